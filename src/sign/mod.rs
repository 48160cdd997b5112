//! Presigning: pure functions of credentials, an object, a signing time and a lifetime.
//!
//! No network I/O happens here. Each signer builds the canonical request and string to sign of
//! its algorithm and returns them with the URL, so another implementation (the official SDKs in
//! the conformance suite) can be compared piece by piece.
//!
//! This file is all the rest of the crate sees: what is signed and what comes back (`request`),
//! where URLs point (`url`), and the one [`Signer`]. The algorithms are private modules behind
//! it, and what OSS V4 and AWS SigV4 share (the day's signing key, the canonical request's hash,
//! the final HMAC) is in `v4`, so how a signature is computed can change without touching a
//! caller.

mod request;
mod url;
mod v4;

mod aws_v4;
mod oss_v1;
mod oss_v4;
#[cfg(test)]
mod sdk_vectors;

pub use aws_v4::AwsV4;
pub use oss_v1::OssV1;
pub use oss_v4::OssV4;
pub(crate) use oss_v4::is_signed_header;
pub use request::{Credentials, HeaderRequest, MAX_TTL_SECS, Presigned, Request};
pub use url::{Addressing, Target, encode, push_encoded};

/// Which algorithm signs a storage's URLs.
#[derive(Debug)]
pub enum Signer {
    OssV4(OssV4),
    OssV1(OssV1),
    AwsV4(AwsV4),
}

impl Signer {
    /// Presigns `req` for `target`, with the canonical request and string to sign.
    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        self.sign(target, req, true)
    }

    /// Presigns `req` for `target`: only the URL is built (the hot path).
    pub fn presign_url(&self, target: &Target, req: &Request<'_>) -> String {
        self.sign(target, req, false).url
    }

    fn sign(&self, target: &Target, req: &Request<'_>, explain: bool) -> Presigned {
        match self {
            Signer::OssV4(s) => s.sign(target, req, explain),
            Signer::OssV1(s) => s.presign(target, req),
            Signer::AwsV4(s) => s.sign(target, req, explain),
        }
    }

    /// Short name for logs and docs: `oss-v4`, `oss-v1`, `s3-v4`.
    pub fn name(&self) -> &'static str {
        match self {
            Signer::OssV4(_) => "oss-v4",
            Signer::OssV1(_) => "oss-v1",
            Signer::AwsV4(_) => "s3-v4",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url::{encode, push_encoded};
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved() {
        assert_eq!(encode("a b+/~é"), "a%20b%2B%2F~%C3%A9");
        let mut path = String::new();
        push_encoded(&mut path, "a b//c?#%");
        assert_eq!(path, "a%20b//c%3F%23%25");
    }

    #[test]
    fn target_hosts_and_paths() {
        let t = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
        assert_eq!(t.object_url("b", "a b"), "https://b.oss-cn-hangzhou.aliyuncs.com/a%20b");
        let t = Target::parse("http://127.0.0.1:9000", Addressing::Path).unwrap();
        assert_eq!(t.object_url("b", "/x"), "http://127.0.0.1:9000/b//x");
        let t = Target::parse("img.example.com", Addressing::Cname).unwrap();
        assert_eq!(t.object_url("b", "k"), "https://img.example.com/k");
        assert!(Target::parse("https://h/path", Addressing::Path).is_err());
        let ip = Target::parse("http://127.0.0.1:9000", Addressing::Virtual)
            .unwrap()
            .fit_bucket("b");
        assert_eq!(ip.object_url("b", "k"), "http://127.0.0.1:9000/b/k");
        let v6 = Target::parse("http://[::1]:9000", Addressing::Virtual)
            .unwrap()
            .fit_bucket("b");
        assert_eq!(v6.addressing, Addressing::Path);
        let dotted = Target::parse("https://s3.amazonaws.com", Addressing::Virtual).unwrap();
        assert_eq!(dotted.clone().fit_bucket("a.b").addressing, Addressing::Path);
        assert_eq!(dotted.fit_bucket("ab").addressing, Addressing::Virtual);
        assert!(Target::parse("ftp://h", Addressing::Path).is_err());
    }

    #[test]
    #[should_panic(expected = "within chrono's range")]
    fn a_time_chrono_cannot_hold_is_not_signed() {
        let target = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
        let req = Request {
            method: "GET",
            bucket: "b",
            key: "k",
            signed_at: i64::MAX / 2,
            expires_in: 1,
        };
        Signer::OssV4(OssV4::new(Credentials::new("AK", "SK", None), "cn-hangzhou")).presign_url(&target, &req);
    }

    #[test]
    fn the_hot_path_builds_the_same_url() {
        let req = |signed_at| Request {
            method: "GET",
            bucket: "bkt",
            key: " a b+c%/d//é#?x ",
            signed_at,
            expires_in: 3600,
        };
        let creds = |token: Option<&str>| Credentials::new("AKID", "SECRET", token.map(str::to_owned));
        let targets = [
            Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap(),
            Target::parse("http://127.0.0.1:9000", Addressing::Path).unwrap(),
            Target::parse("https://img.example.com", Addressing::Cname).unwrap(),
        ];
        for token in [None, Some("sts/token+=")] {
            let signers = [
                Signer::OssV4(OssV4::new(creds(token), "cn-hangzhou")),
                Signer::OssV1(OssV1::new(creds(token))),
                Signer::AwsV4(AwsV4::new(creds(token), "us-west-1")),
            ];
            for (signer, target) in signers.iter().flat_map(|s| targets.iter().map(move |t| (s, t))) {
                for at in [0, 1_795_773_600, 1_795_859_999, 1_795_860_000] {
                    let full = signer.presign(target, &req(at));
                    assert_eq!(signer.presign_url(target, &req(at)), full.url);
                    assert!(full.url.ends_with(&full.signature) || full.url.contains("Signature="));
                }
            }
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::new("AK", "very-secret", Some("sts-token".into()));
        let d = format!("{c:?}");
        assert!(!d.contains("very-secret") && !d.contains("sts-token"), "{d}");
    }
}
