//! The latent world: subjects, attributes, actions and scenes, with the words captions use.
//!
//! Every video shows one concept of each kind. The first name of each concept is its
//! canonical name (used in AVS topics and descriptions); captions pick among all names.
//! Actions `2k` and `2k + 1` (k < [`ACTION_PAIRS`]) are opposites: the same visual phases
//! in reverse temporal order (opens / closes a door). The remaining actions stand alone.

use serde::Serialize;

/// A subject, attribute or scene: its names (canonical first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concept {
    /// Names captions may use; the first is the canonical one.
    pub names: &'static [&'static str],
}

impl Concept {
    /// The canonical name.
    pub fn name(&self) -> &'static str {
        self.names.first().copied().unwrap_or("")
    }
}

/// An action: ways to say it, each as (third person, gerund), canonical first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// Phrasings, e.g. ("opens a door", "opening a door").
    pub phrasings: &'static [(&'static str, &'static str)],
}

impl Action {
    /// The canonical third-person phrase, e.g. "opens a door".
    pub fn name(&self) -> &'static str {
        self.phrasings.first().map_or("", |p| p.0)
    }
}

const fn concept(names: &'static [&'static str]) -> Concept {
    Concept { names }
}

const fn action(phrasings: &'static [(&'static str, &'static str)]) -> Action {
    Action { phrasings }
}

/// Who or what is in the video.
pub const SUBJECTS: &[Concept] = &[
    concept(&["girl"]),
    concept(&["boy"]),
    concept(&["man", "guy"]),
    concept(&["woman", "lady"]),
    concept(&["child", "kid"]),
    concept(&["baby", "infant"]),
    concept(&["dog", "puppy"]),
    concept(&["cat", "kitten"]),
    concept(&["horse", "pony"]),
    concept(&["monkey", "ape"]),
    concept(&["bird"]),
    concept(&["chef", "cook"]),
    concept(&["robot"]),
    concept(&["band", "group of musicians"]),
    concept(&["team", "group of players"]),
    concept(&["student", "pupil"]),
];

/// A colour or size of the subject.
pub const ATTRIBUTES: &[Concept] = &[
    concept(&["red"]),
    concept(&["blue"]),
    concept(&["green"]),
    concept(&["black"]),
    concept(&["white"]),
    concept(&["yellow"]),
    concept(&["small", "little"]),
    concept(&["big", "large"]),
];

/// Where the video takes place.
pub const SCENES: &[Concept] = &[
    concept(&["kitchen"]),
    concept(&["park", "garden"]),
    concept(&["beach", "shore"]),
    concept(&["street", "road"]),
    concept(&["stage", "concert"]),
    concept(&["forest", "woods"]),
    concept(&["office"]),
    concept(&["pool", "swimming pool"]),
    concept(&["snow", "snowy field"]),
    concept(&["studio", "tv studio"]),
];

/// Number of opposite action pairs at the start of [`ACTIONS`].
pub const ACTION_PAIRS: usize = 8;

/// What the subject does. Pairs first (`2k` forward, `2k + 1` its reverse), then singles.
pub const ACTIONS: &[Action] = &[
    action(&[("stands up", "standing up")]),
    action(&[("sits down", "sitting down")]),
    action(&[
        ("opens a door", "opening a door"),
        ("opens the door", "opening the door"),
    ]),
    action(&[
        ("closes a door", "closing a door"),
        ("shuts the door", "shutting the door"),
    ]),
    action(&[("enters a room", "entering a room")]),
    action(&[("leaves a room", "leaving a room")]),
    action(&[("picks up a box", "picking up a box")]),
    action(&[("puts down a box", "putting down a box")]),
    action(&[
        ("climbs up", "climbing up"),
        ("climbs up a ladder", "climbing up a ladder"),
    ]),
    action(&[
        ("climbs down", "climbing down"),
        ("climbs down a ladder", "climbing down a ladder"),
    ]),
    action(&[
        ("jumps into water", "jumping into water"),
        ("jumps into the water", "jumping into the water"),
    ]),
    action(&[
        ("jumps out of water", "jumping out of water"),
        ("jumps out of the water", "jumping out of the water"),
    ]),
    action(&[("lies down", "lying down")]),
    action(&[("gets up", "getting up")]),
    action(&[("starts running", "starting to run")]),
    action(&[("stops running", "stopping running")]),
    action(&[("dances", "dancing")]),
    action(&[("sings", "singing")]),
    action(&[("cooks food", "cooking food")]),
    action(&[
        ("plays guitar", "playing guitar"),
        ("plays the guitar", "playing the guitar"),
    ]),
    action(&[("swims", "swimming")]),
    action(&[("eats", "eating")]),
    action(&[("talks on the phone", "talking on the phone")]),
    action(&[("rides a bike", "riding a bike")]),
    action(&[("reads a book", "reading a book")]),
    action(&[("waves", "waving")]),
];

/// The opposite of `action` (same phases, reverse order), if it has one.
pub fn opposite(action: usize) -> Option<usize> {
    (action < 2 * ACTION_PAIRS && action < ACTIONS.len()).then_some(action ^ 1)
}

/// True for the second action of a pair: it plays its pair's phases backwards.
pub fn is_reversed(action: usize) -> bool {
    action < 2 * ACTION_PAIRS && action % 2 == 1
}

/// The phase family of an action: a pair shares one family, a single action has its own.
pub(crate) fn action_family(action: usize) -> usize {
    if action < 2 * ACTION_PAIRS {
        action / 2
    } else {
        action - ACTION_PAIRS
    }
}

/// Number of phase families (pairs + singles).
pub(crate) fn action_families() -> usize {
    ACTIONS.len() - ACTION_PAIRS
}

/// "a" or "an" before `word` (by its first letter).
pub fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// The four latent concepts of one video, as indices into the tables above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct VideoLabels {
    /// Index into [`SUBJECTS`].
    pub subject: usize,
    /// Index into [`ATTRIBUTES`].
    pub attribute: usize,
    /// Index into [`ACTIONS`].
    pub action: usize,
    /// Index into [`SCENES`].
    pub scene: usize,
}

impl VideoLabels {
    /// Labels from `[subject, attribute, action, scene]`; `None` when an index is out of range.
    pub fn from_array(values: [usize; 4]) -> Option<VideoLabels> {
        let [subject, attribute, action, scene] = values;
        let ok = subject < SUBJECTS.len()
            && attribute < ATTRIBUTES.len()
            && action < ACTIONS.len()
            && scene < SCENES.len();
        ok.then_some(VideoLabels {
            subject,
            attribute,
            action,
            scene,
        })
    }

    /// `[subject, attribute, action, scene]`, the order of the labels file.
    pub fn to_array(self) -> [usize; 4] {
        [self.subject, self.attribute, self.action, self.scene]
    }

    /// Canonical subject name, e.g. "girl".
    pub fn subject_name(&self) -> &'static str {
        SUBJECTS.get(self.subject).map_or("?", Concept::name)
    }

    /// Canonical attribute name, e.g. "red".
    pub fn attribute_name(&self) -> &'static str {
        ATTRIBUTES.get(self.attribute).map_or("?", Concept::name)
    }

    /// Canonical action phrase, e.g. "opens a door".
    pub fn action_name(&self) -> &'static str {
        ACTIONS.get(self.action).map_or("?", Action::name)
    }

    /// Canonical scene name, e.g. "kitchen".
    pub fn scene_name(&self) -> &'static str {
        SCENES.get(self.scene).map_or("?", Concept::name)
    }

    /// A readable sentence of everything the video shows, e.g.
    /// "a red girl opens a door in the kitchen".
    pub fn describe(&self) -> String {
        let attribute = self.attribute_name();
        format!(
            "{} {attribute} {} {} in the {}",
            article(attribute),
            self.subject_name(),
            self.action_name(),
            self.scene_name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_mutual_opposites_and_singles_have_none() {
        for a in 0..2 * ACTION_PAIRS {
            let b = opposite(a).unwrap();
            assert_eq!(opposite(b), Some(a));
            assert_eq!(action_family(a), action_family(b));
            assert_ne!(is_reversed(a), is_reversed(b));
        }
        for a in 2 * ACTION_PAIRS..ACTIONS.len() {
            assert_eq!(opposite(a), None);
            assert!(!is_reversed(a));
        }
        let families: std::collections::BTreeSet<_> =
            (0..ACTIONS.len()).map(action_family).collect();
        assert_eq!(families.len(), action_families());
        assert_eq!(families.last().copied(), Some(action_families() - 1));
    }

    #[test]
    fn names_are_lower_case_words_and_distinct_across_subjects() {
        let mut seen = std::collections::HashSet::new();
        for c in SUBJECTS {
            for name in c.names {
                assert!(name.chars().all(|ch| ch.is_ascii_lowercase() || ch == ' '));
                assert!(seen.insert(*name), "{name} names two subjects");
            }
        }
        assert!(ACTIONS.iter().all(|a| !a.phrasings.is_empty()));
    }

    #[test]
    fn labels_round_trip_and_describe() {
        let labels = VideoLabels::from_array([9, 0, 2, 8]).unwrap();
        assert_eq!(labels.to_array(), [9, 0, 2, 8]);
        assert_eq!(labels.describe(), "a red monkey opens a door in the snow");
        assert_eq!(VideoLabels::from_array([SUBJECTS.len(), 0, 0, 0]), None);
        assert_eq!(article("ape"), "an");
        assert_eq!(article("kid"), "a");
    }
}
