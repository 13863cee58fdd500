//! Reading and checking the inputs of a search: the `?q=...&k=...` query string, the JSON body
//! of a batch, and the limits on queries and `k`.
//!
//! The query string is decoded here rather than by a generic form extractor because those
//! replace bytes that are not UTF-8 with U+FFFD silently; this API refuses them with a 400.

use percent_encoding::percent_decode;

use crate::api::{BatchRequest, Limits};
use crate::error::ApiError;

/// The checked parameters of one `GET /api/search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchParams {
    /// The query text (percent-decoded, `+` read as a space).
    pub query: String,
    /// Results wanted, within `1..=limits.max_k`.
    pub k: usize,
}

/// Parses and checks a raw query string (the part of the URL after `?`, if any).
///
/// Accepts exactly the parameters `q` (required) and `k` (optional), each at most once.
pub fn parse_search_params(raw: Option<&str>, limits: &Limits) -> Result<SearchParams, ApiError> {
    let mut query = None;
    let mut k = None;
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component(raw_name, "a parameter name")?;
        let slot = match name.as_str() {
            "q" => &mut query,
            "k" => &mut k,
            _ => {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                    "unknown parameter {name:?}: only q (the query) and k (results) are accepted"
                ),
                ))
            }
        };
        if slot.is_some() {
            return Err(ApiError::bad_request(
                "duplicate_parameter",
                format!("parameter {name} is given more than once"),
            ));
        }
        *slot = Some(decode_component(raw_value, &format!("parameter {name}"))?);
    }
    let query = query.ok_or_else(|| {
        ApiError::bad_request("missing_query", "parameter q (the query text) is required")
    })?;
    check_query(&query, limits)?;
    let k = match k {
        Some(text) => parse_k(&text, limits)?,
        None => limits.default_k,
    };
    Ok(SearchParams { query, k })
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte,
/// and the bytes must be UTF-8. `what` names the component in the error message.
fn decode_component(raw: &str, what: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let byte = error.as_bytes().get(offset).copied().unwrap_or_default();
        ApiError::bad_request(
            "invalid_utf8",
            format!(
                "{what} is not valid UTF-8 once percent-decoded (byte 0x{byte:02X} at offset {offset}); \
                 encode text as UTF-8 before percent-encoding it"
            ),
        )
    })
}

/// Checks one query against the limits: not empty or blank, at most `max_query_chars`
/// characters.
pub fn check_query(query: &str, limits: &Limits) -> Result<(), ApiError> {
    if query.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_query",
            "the query is empty: type some words",
        ));
    }
    let chars = query.chars().count();
    if chars > limits.max_query_chars {
        return Err(ApiError::bad_request(
            "query_too_long",
            format!(
                "the query has {chars} characters; at most {} are accepted",
                limits.max_query_chars
            ),
        ));
    }
    Ok(())
}

/// Parses `k` from text: a whole number in `1..=max_k`.
fn parse_k(text: &str, limits: &Limits) -> Result<usize, ApiError> {
    let digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    match text.parse::<usize>() {
        Ok(k) => check_k(k, limits),
        // Only digits but no usize: a number too large to represent.
        Err(_) if digits => check_k(usize::MAX, limits),
        Err(_) => Err(ApiError::bad_request(
            "invalid_k",
            format!(
                "k must be a whole number from 1 to {}, not {text:?}",
                limits.max_k
            ),
        )),
    }
}

/// Checks that `k` is in `1..=max_k`.
pub fn check_k(k: usize, limits: &Limits) -> Result<usize, ApiError> {
    if k == 0 {
        return Err(ApiError::bad_request(
            "invalid_k",
            format!("k must be at least 1 (at most {})", limits.max_k),
        ));
    }
    if k > limits.max_k {
        return Err(ApiError::bad_request(
            "k_too_large",
            format!("k is too large: at most {} results per query", limits.max_k),
        ));
    }
    Ok(k)
}

/// Reads and checks a `POST /api/search` body: valid JSON `{"queries": [...], "k"?}` in UTF-8,
/// 1..=`max_batch` queries each within the limits, and `k` (the default when absent); returns
/// the queries and `k`.
pub fn parse_batch(body: &[u8], limits: &Limits) -> Result<(Vec<String>, usize), ApiError> {
    let request: BatchRequest = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "the body must be JSON {{\"queries\": [\"...\"], \"k\": 10}} in UTF-8: {error}"
            ),
        )
    })?;
    if request.queries.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "queries is empty: give at least one query",
        ));
    }
    if request.queries.len() > limits.max_batch {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!(
                "{} queries in one batch; at most {} are accepted",
                request.queries.len(),
                limits.max_batch
            ),
        ));
    }
    for (index, query) in request.queries.iter().enumerate() {
        check_query(query, limits).map_err(|mut error| {
            error.body.error = format!("queries[{index}]: {}", error.body.error);
            error
        })?;
    }
    let k = check_k(request.k.unwrap_or(limits.default_k), limits)?;
    Ok((request.queries, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<SearchParams, ApiError> {
        parse_search_params(Some(raw), &Limits::default())
    }

    fn code(raw: &str) -> String {
        parse(raw).expect_err("should be refused").body.code
    }

    #[test]
    fn decodes_plus_and_percent_escapes() {
        let params = parse("q=a+red%20dog%C3%A9&k=5").expect("valid");
        assert_eq!(
            params,
            SearchParams {
                query: "a red dogé".to_owned(),
                k: 5
            }
        );
    }

    #[test]
    fn k_defaults_and_order_does_not_matter() {
        assert_eq!(parse("q=dog").expect("valid").k, 10);
        assert_eq!(parse("k=3&q=dog").expect("valid").k, 3);
        assert_eq!(parse("k=1000&q=dog").expect("valid").k, 1000);
    }

    #[test]
    fn refuses_bad_inputs_with_codes() {
        assert_eq!(code(""), "missing_query");
        assert_eq!(code("q="), "empty_query");
        assert_eq!(code("q=+%20%09"), "empty_query");
        assert_eq!(code("q=dog&k=0"), "invalid_k");
        assert_eq!(code("q=dog&k=ten"), "invalid_k");
        assert_eq!(code("q=dog&k=-1"), "invalid_k");
        assert_eq!(code("q=dog&k=1001"), "k_too_large");
        assert_eq!(code("q=dog&k=99999999999999999999999999"), "k_too_large");
        assert_eq!(code("q=%FF"), "invalid_utf8");
        assert_eq!(code("q=%C3"), "invalid_utf8");
        assert_eq!(code("q=dog&q=cat"), "duplicate_parameter");
        assert_eq!(code("query=dog"), "unknown_parameter");
    }

    #[test]
    fn query_length_counts_characters_not_bytes() {
        let limits = Limits::default();
        let at_limit = "é".repeat(limits.max_query_chars);
        assert!(check_query(&at_limit, &limits).is_ok());
        let over = "a".repeat(limits.max_query_chars + 1);
        let error = check_query(&over, &limits).expect_err("too long");
        assert_eq!(error.body.code, "query_too_long");
        assert!(error.body.error.contains("1001"), "{}", error.body.error);
    }

    #[test]
    fn utf8_error_names_the_byte() {
        let error = parse("q=ab%FFcd").expect_err("not UTF-8");
        assert!(
            error.body.error.contains("0xFF at offset 2"),
            "{}",
            error.body.error
        );
    }
}
