//! Captions: varied templates and synonyms over a video's concepts.
//!
//! Every template names the subject or the scene (most name both), and many leave out the
//! attribute, the action or the scene, as human captions do. With the default sizes the
//! training captions give a vocabulary of roughly 100-150 words at count threshold 5.

use crate::concepts::{article, VideoLabels, ACTIONS, ATTRIBUTES, SCENES, SUBJECTS};
use crate::rng::SynthRng;

/// The words chosen for one caption.
struct Words {
    subject: &'static str,
    attribute: &'static str,
    verb: &'static str,
    gerund: &'static str,
    scene: &'static str,
}

impl Words {
    /// Picks a synonym of each concept of `labels`.
    fn pick(labels: &VideoLabels, rng: &mut SynthRng) -> Words {
        let names = |table: &[crate::concepts::Concept], i: usize| {
            table.get(i).map_or(&[""][..], |c| c.names)
        };
        let phrasings = ACTIONS
            .get(labels.action)
            .map_or(&[("", "")][..], |a| a.phrasings);
        let (verb, gerund) = rng.pick(phrasings);
        Words {
            subject: rng.pick(names(SUBJECTS, labels.subject)),
            attribute: rng.pick(names(ATTRIBUTES, labels.attribute)),
            verb,
            gerund,
            scene: rng.pick(names(SCENES, labels.scene)),
        }
    }

    /// "a dog" / "an ape".
    fn a_subject(&self) -> String {
        format!("{} {}", article(self.subject), self.subject)
    }

    /// "a red dog" / "an ..." (article by the attribute).
    fn a_attr_subject(&self) -> String {
        format!(
            "{} {} {}",
            article(self.attribute),
            self.attribute,
            self.subject
        )
    }
}

/// One caption template.
type Template = fn(&Words) -> String;

/// The templates, chosen uniformly. Each mentions the subject or the scene.
const TEMPLATES: &[Template] = &[
    |w| format!("{} {}", w.a_subject(), w.verb),
    |w| format!("{} {} in the {}", w.a_attr_subject(), w.verb, w.scene),
    |w| {
        format!(
            "{} is shown {} near the {}",
            w.a_attr_subject(),
            w.gerund,
            w.scene
        )
    },
    |w| format!("in the {} {} {}", w.scene, w.a_attr_subject(), w.verb),
    |w| format!("there is {} in the {}", w.a_attr_subject(), w.scene),
    |w| format!("someone films {} that {}", w.a_subject(), w.verb),
    |w| {
        format!(
            "a video of {} who {} in the {}",
            w.a_attr_subject(),
            w.verb,
            w.scene
        )
    },
    |w| format!("{} {}", w.subject, w.verb),
    |w| format!("the {} {} at the {}", w.subject, w.verb, w.scene),
    |w| format!("{} is {}", w.a_attr_subject(), w.gerund),
    |w| format!("we see {} {} in the {}", w.a_subject(), w.gerund, w.scene),
    |w| format!("a clip filmed at the {}", w.scene),
    |w| format!("the {} {} {}", w.attribute, w.subject, w.verb),
    |w| format!("{} is {} at the {}", w.a_subject(), w.gerund, w.scene),
];

/// A caption of a video showing `labels`.
pub(crate) fn caption(labels: &VideoLabels, rng: &mut SynthRng) -> String {
    let template = rng.pick(TEMPLATES);
    let words = Words::pick(labels, rng);
    template(&words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_the_subject_or_the_scene() {
        let labels = VideoLabels::from_array([9, 7, 3, 8]).unwrap();
        let mut rng = SynthRng::new(1, 2);
        let words = Words::pick(&labels, &mut rng);
        for (i, template) in TEMPLATES.iter().enumerate() {
            let text = template(&words);
            assert!(
                text.contains(words.subject) || text.contains(words.scene),
                "template {i}: {text}"
            );
            assert!(
                !text.contains("  ") && text == text.trim(),
                "template {i}: {text:?}"
            );
        }
    }

    #[test]
    fn articles_agree_with_the_next_word() {
        let labels = VideoLabels::from_array([9, 0, 0, 0]).unwrap();
        let mut rng = SynthRng::new(4, 2);
        let texts: Vec<String> = (0..200).map(|_| caption(&labels, &mut rng)).collect();
        assert!(texts.iter().any(|t| t.contains("an ape")));
        assert!(texts
            .iter()
            .all(|t| !t.contains("a ape") && !t.contains("an monkey")));
        assert!(texts.iter().any(|t| t.contains("a red")));
    }
}
