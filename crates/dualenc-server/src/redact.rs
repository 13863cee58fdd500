//! Keeping the server's filesystem out of its answers: absolute paths in what a backend says
//! about itself (`/api/info`, the page) or in its error messages are cut to their last
//! component, e.g. `/home/me/models/msrvtt` to `msrvtt`.

use crate::backend::BackendInfo;

/// Characters that may open a word before a path starts (quotes, brackets).
const OPENERS: &[char] = &['"', '\'', '(', '[', '{', '<', '`'];

/// `info` with the paths of its `model`, `collection` and `details` values hidden
/// ([`hide_paths`]); the numbers and the details' keys are kept as they are.
pub(crate) fn hide_paths_in(info: BackendInfo) -> BackendInfo {
    BackendInfo {
        model: hide_paths(&info.model),
        collection: hide_paths(&info.collection),
        details: info
            .details
            .into_iter()
            .map(|(key, value)| (key, hide_paths(&value)))
            .collect(),
        ..info
    }
}

/// `text` with its absolute paths cut to their last component: the whole text when it starts
/// with one (so a path with spaces is cut whole), otherwise each whitespace-separated word that
/// starts with one, after opening quotes or brackets. Absolute means starting with `/`, `\`,
/// `~/` or a drive (`C:\`, `C:/`); relative paths and other text are kept.
pub(crate) fn hide_paths(text: &str) -> String {
    let trimmed = text.trim();
    if is_absolute(trimmed) {
        return last_component(trimmed).to_owned();
    }
    text.split_inclusive(char::is_whitespace)
        .map(hide_word)
        .collect()
}

/// One word (with the whitespace after it), its path cut if it is one.
fn hide_word(piece: &str) -> String {
    let word = piece.trim_end_matches(char::is_whitespace);
    let gap = &piece[word.len()..];
    let path = word.trim_start_matches(OPENERS);
    if !is_absolute(path) {
        return piece.to_owned();
    }
    let opening = &word[..word.len() - path.len()];
    format!("{opening}{}{gap}", last_component(path))
}

/// Whether `text` starts with an absolute path (Unix, home-relative or Windows).
fn is_absolute(text: &str) -> bool {
    let bytes = text.as_bytes();
    let drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'/' | b'\\');
    drive || text.starts_with(['/', '\\']) || text.starts_with("~/")
}

/// What follows the last `/` or `\` that is not at the end (a folder's name for `a/b/`).
fn last_component(path: &str) -> &str {
    let path = path.trim_end_matches(['/', '\\']);
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_paths_keep_their_last_component() {
        assert_eq!(hide_paths("/home/alice/models/msrvtt"), "msrvtt");
        assert_eq!(hide_paths("/srv/index/"), "index");
        assert_eq!(hide_paths("/home/me/my models/run 1"), "run 1");
        assert_eq!(hide_paths(r"C:\Users\me\idx"), "idx");
        assert_eq!(hide_paths("~/VisualSearch/tgif"), "tgif");
        assert_eq!(hide_paths(r"\\server\share\idx"), "idx");
        assert_eq!(hide_paths("/"), "");
    }

    #[test]
    fn paths_inside_text_are_cut_word_by_word() {
        assert_eq!(
            hide_paths("cannot read /srv/idx/embeddings.f32: gone"),
            "cannot read embeddings.f32: gone"
        );
        assert_eq!(
            hide_paths("model (\"/home/a/m\") and '/x/y'"),
            "model (\"m\") and 'y'"
        );
        assert_eq!(hide_paths("a\t/b/c\nd"), "a\tc\nd");
    }

    #[test]
    fn other_text_is_kept() {
        for text in [
            "",
            "approximate (HNSW)",
            "1/2 of the rows",
            "models/msrvtt",
            "https://example.org/a/b",
            "2990 videos, feature resnext101-resnet152, encoding batch-128",
        ] {
            assert_eq!(hide_paths(text), text);
        }
    }

    #[test]
    fn backend_info_fields_are_hidden_but_numbers_and_keys_kept() {
        let info = BackendInfo {
            model: "/m/run".to_owned(),
            collection: "c".to_owned(),
            videos: 3,
            dim: 4,
            details: [("/index".to_owned(), "/srv/idx".to_owned())].into(),
        };
        let hidden = hide_paths_in(info);
        assert_eq!(hidden.model, "run");
        assert_eq!(hidden.collection, "c");
        assert_eq!((hidden.videos, hidden.dim), (3, 4));
        assert_eq!(hidden.details["/index"], "idx");
    }
}
