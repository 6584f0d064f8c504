//! The labels of one log line while it moves through a pipeline.
//!
//! Stream labels, structured metadata and parsed labels live in one vector whose
//! `String` buffers are reused from line to line, so a pipeline over a stream allocates
//! only when a line carries more or longer labels than any line before it.

use oxeye_core::{Label, Labels};

/// Where a label came from (Loki's categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cat {
    Stream,
    Meta,
    Parsed,
}

#[derive(Debug, Default, Clone)]
struct Slot {
    name: String,
    value: String,
    cat: Option<Cat>,
}

/// The labels of the line being processed.
#[derive(Debug, Default, Clone)]
pub(crate) struct LabelState {
    slots: Vec<Slot>,
    len: usize,
}

pub(crate) const ERROR: &str = "__error__";
pub(crate) const ERROR_DETAILS: &str = "__error_details__";

impl LabelState {
    /// Starts a line: the stream's labels and the entry's structured metadata.
    pub fn reset(&mut self, stream: &Labels, metadata: &[(String, String)]) {
        self.len = 0;
        for l in stream.iter() {
            self.push(&l.name, &l.value, Cat::Stream);
        }
        for (n, v) in metadata {
            self.push(n, v, Cat::Meta);
        }
    }

    fn push(&mut self, name: &str, value: &str, cat: Cat) {
        if self.len == self.slots.len() {
            self.slots.push(Slot::default());
        }
        if let Some(s) = self.slots.get_mut(self.len) {
            s.name.clear();
            s.name.push_str(name);
            s.value.clear();
            s.value.push_str(value);
            s.cat = Some(cat);
        }
        self.len += 1;
    }

    fn live(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().take(self.len).filter(|s| s.cat.is_some())
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.slots
            .iter()
            .take(self.len)
            .position(|s| s.cat.is_some() && s.name == name)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name)
            .and_then(|i| self.slots.get(i))
            .map(|s| s.value.as_str())
    }

    /// Whether `name` is a stream label or structured metadata.
    fn is_base(&self, name: &str) -> bool {
        self.find(name)
            .and_then(|i| self.slots.get(i))
            .is_some_and(|s| s.cat != Some(Cat::Parsed))
    }

    /// Sets `name`, keeping its category when it exists (else a parsed label).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.find(name).and_then(|i| self.slots.get_mut(i)) {
            Some(s) => {
                s.value.clear();
                s.value.push_str(value);
            }
            None => self.push(name, value, Cat::Parsed),
        }
    }

    /// Adds a label extracted by a parser: a name taken by a stream label or
    /// structured metadata gets the `_extracted` suffix, and a name an earlier parser
    /// (or an earlier field of the same line) already extracted keeps its first value,
    /// as Loki does.
    pub fn set_parsed(&mut self, name: &str, value: &str) {
        let parsed_exists = |st: &Self, n: &str| {
            st.find(n)
                .and_then(|i| st.slots.get(i))
                .is_some_and(|s| s.cat == Some(Cat::Parsed))
        };
        if self.is_base(name) {
            let mut n = String::with_capacity(name.len() + 10);
            n.push_str(name);
            n.push_str("_extracted");
            if !parsed_exists(self, &n) {
                self.set(&n, value);
            }
        } else if !parsed_exists(self, name) {
            self.set(name, value);
        }
    }

    /// Removes `name`.
    pub fn del(&mut self, name: &str) {
        if let Some(s) = self.find(name).and_then(|i| self.slots.get_mut(i)) {
            s.cat = None;
        }
    }

    /// Keeps the labels for which `keep(name, value)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        for s in self.slots.iter_mut().take(self.len) {
            if s.cat.is_some() && !keep(&s.name, &s.value) {
                s.cat = None;
            }
        }
    }

    /// Records a pipeline error (the first one wins).
    pub fn set_error(&mut self, kind: &str, details: &str) {
        if self.get(ERROR).is_some() {
            return;
        }
        self.push(ERROR, kind, Cat::Parsed);
        if !details.is_empty() {
            self.push(ERROR_DETAILS, details, Cat::Parsed);
        }
    }

    /// All labels as pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.live().map(|s| (s.name.as_str(), s.value.as_str()))
    }

    /// All labels, sorted.
    pub fn to_labels(&self) -> Labels {
        Labels::new(
            self.live()
                .filter(|s| !s.value.is_empty())
                .map(|s| Label::new(s.name.clone(), s.value.clone()))
                .collect(),
        )
    }

    /// Labels of category `cat`, sorted.
    pub fn category(&self, cat: Cat) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .live()
            .filter(|s| s.cat == Some(cat) && !s.value.is_empty())
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect();
        if cat == Cat::Parsed {
            v.sort();
        }
        v
    }

    /// Stream labels as a label set.
    pub fn stream_labels(&self) -> Labels {
        Labels::new(
            self.live()
                .filter(|s| s.cat == Some(Cat::Stream) && !s.value.is_empty())
                .map(|s| Label::new(s.name.clone(), s.value.clone()))
                .collect(),
        )
    }

    /// Writes a grouping key of all labels (or only those `by` names, or all but
    /// `without` names) into `out`; equal keys mean equal label sets.
    pub fn key(&self, out: &mut String, filter: &dyn Fn(&str) -> bool, scratch: &mut Vec<usize>) {
        out.clear();
        scratch.clear();
        for (i, s) in self.slots.iter().take(self.len).enumerate() {
            if s.cat.is_some() && !s.value.is_empty() && filter(&s.name) {
                scratch.push(i);
            }
        }
        let slots = &self.slots;
        scratch.sort_by(|a, b| {
            let na = slots.get(*a).map(|s| s.name.as_str());
            let nb = slots.get(*b).map(|s| s.name.as_str());
            na.cmp(&nb)
        });
        for i in scratch.iter() {
            if let Some(s) = slots.get(*i) {
                out.push_str(&s.name);
                out.push('\u{1}');
                out.push_str(&s.value);
                out.push('\u{2}');
            }
        }
    }

    /// The labels the key of [`LabelState::key`] with the same filter describes.
    pub fn labels_filtered(&self, filter: &dyn Fn(&str) -> bool) -> Labels {
        Labels::new(
            self.live()
                .filter(|s| !s.value.is_empty() && filter(&s.name))
                .map(|s| Label::new(s.name.clone(), s.value.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_labels_colliding_with_stream_labels_get_suffix() {
        let mut st = LabelState::default();
        st.reset(
            &Labels::from_pairs(&[("app", "api")]),
            &[("trace_id".into(), "t1".into())],
        );
        st.set_parsed("app", "x");
        st.set_parsed("trace_id", "y");
        st.set_parsed("level", "info");
        st.set_parsed("level", "second parser");
        assert_eq!(st.get("level"), Some("info"));
        assert_eq!(st.get("app"), Some("api"));
        assert_eq!(st.get("app_extracted"), Some("x"));
        assert_eq!(st.get("trace_id_extracted"), Some("y"));
        assert_eq!(
            st.category(Cat::Parsed),
            vec![
                ("app_extracted".to_string(), "x".to_string()),
                ("level".to_string(), "info".to_string()),
                ("trace_id_extracted".to_string(), "y".to_string())
            ]
        );
        st.del("level");
        assert_eq!(st.get("level"), None);
        // Buffers are reused for the next line.
        st.reset(&Labels::from_pairs(&[("app", "web")]), &[]);
        assert_eq!(st.to_labels(), Labels::from_pairs(&[("app", "web")]));
    }
}
