use std::fmt;

use super::xml::Doc;

/// An error answered the way OSS answers it: an HTTP status plus an XML `<Error>` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra elements of the XML body after `<HostId>`, in order (e.g. `Key`, `StringToSign`).
    pub details: Vec<(&'static str, String)>,
}

impl OssError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }

    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    /// `InvalidArgument` naming the query parameter at fault, as OSS answers one.
    pub fn bad_parameter(name: &str, value: &str, message: impl Into<String>) -> Self {
        Self::invalid_argument(message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    pub fn expired() -> Self {
        Self::access_denied("Request has expired.")
    }

    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut doc = Doc::new("Error");
        doc.element("Code", self.code)
            .element("Message", &self.message)
            .element("RequestId", request_id)
            .element("HostId", host_id);
        for (name, value) in &self.details {
            doc.element(name, value);
        }
        doc.finish()
    }
}

impl fmt::Display for OssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for OssError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_body_is_escaped_and_ordered() {
        let e = OssError::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", "a<b>&\"c'");
        let xml = e.to_xml("RID", "host");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>NoSuchKey</Code>\n  \
             <Message>The specified key does not exist.</Message>\n  <RequestId>RID</RequestId>\n  \
             <HostId>host</HostId>\n  <Key>a&lt;b&gt;&amp;&quot;c&apos;</Key>\n</Error>\n"
        );
    }
}
