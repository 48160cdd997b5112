//! Settings and arguments that are one of a few words (`presign`, `oss`, `virtual`). Their enums
//! derive clap's `ValueEnum`, so the command line, the environment and the TOML file accept — and
//! list, when given something else — the same words.

use clap::ValueEnum;

/// `s` as one of `T`'s words, or why not: `"foo" is not one of presign, link, inline`.
pub fn parse<T: ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| format!("{s:?} is not one of {}", words::<T>().join(", ")))
}

/// `T`'s words, in declaration order.
pub fn words<T: ValueEnum>() -> Vec<String> {
    T::value_variants()
        .iter()
        .filter_map(|v| Some(v.to_possible_value()?.get_name().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::RewriteAs;

    #[test]
    fn parses_the_words_and_lists_them_otherwise() {
        assert_eq!(parse::<RewriteAs>("link"), Ok(RewriteAs::Link));
        assert_eq!(
            parse::<RewriteAs>("Link"),
            Err("\"Link\" is not one of presign, link, inline".to_owned())
        );
        assert_eq!(words::<crate::uri::Scheme>(), ["oss", "s3"]);
    }
}
