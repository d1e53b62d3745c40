//! The extensions block at the end of a hello (and of the TLS 1.3 messages that carry one):
//! each extension's type and raw body, in order, so unknown and GREASE ones survive.
//!
//! A block that breaks its layout keeps the extensions read before the fault, with why
//! (RFC 5246 §7.4.1.2 lets the block be absent; anything else is a finding, not an error of
//! the whole message). The count is bounded by the block: 2^16 bytes, 4 bytes an entry.

use crate::codec::Reader;

/// One extension: its code point and its body, undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    pub ext_type: u16,
    pub data: &'a [u8],
}

/// Why (part of) an extensions block could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListProblem {
    /// A single byte where the 2-byte block length should be (nothing is consumed).
    StrayByte,
    /// The block length runs past the message; what is there is read.
    BlockOverrun { declared: usize, remain: usize },
    /// Fewer than 4 bytes (an entry's header) left at the end of the block.
    StrayBytes { count: usize },
    /// An entry whose length runs past the block.
    EntryOverrun {
        ext_type: u16,
        declared: usize,
        remain: usize,
    },
    /// Bytes after a block that ended before its message.
    AfterBlock { count: usize },
    /// Types present more than once (`first` is the first repeat in order).
    Repeated {
        count: usize,
        repeats: usize,
        first: u16,
    },
}

impl ListProblem {
    /// The reason as a finding says it; `message` names the message ("ClientHello" ...),
    /// `name` an extension type (the registry lives with the narration).
    pub fn describe(&self, message: &str, name: impl Fn(u16) -> String) -> String {
        match self {
            Self::StrayByte => {
                format!("{message}: one stray byte where the extensions block should start")
            }
            Self::BlockOverrun { declared, remain } => {
                format!("{message}: extensions block declares {declared} bytes, {remain} remain")
            }
            Self::StrayBytes { count } => {
                format!("{message}: {count} stray bytes in the extensions block")
            }
            Self::EntryOverrun {
                ext_type,
                declared,
                remain,
            } => format!(
                "{message}: extension {ext_type} declares {declared} bytes, {remain} remain in \
                 the block"
            ),
            Self::AfterBlock { count } => {
                format!("{message}: {count} bytes after the extensions block")
            }
            Self::Repeated {
                count,
                repeats,
                first,
            } => format!(
                "{message}: {count} extensions, {repeats} of them repeating a type already \
                 present (the first: {}); RFC 8446 §4.2 and RFC 5246 §7.4.1.4 allow one of \
                 each type",
                name(*first)
            ),
        }
    }
}

/// The extensions of one message and what was wrong with their block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions<'a> {
    pub list: Vec<Extension<'a>>,
    pub problems: Vec<ListProblem>,
}

impl<'a> Extensions<'a> {
    /// The extensions block that ends a message: absent, or a 2-byte length and entries.
    pub fn read(r: &mut Reader<'a>) -> Self {
        if r.is_empty() {
            return Self::default();
        }
        let Ok(declared) = r.u16() else {
            return Self {
                list: Vec::new(),
                problems: vec![ListProblem::StrayByte],
            };
        };
        let declared = usize::from(declared);
        let mut problems = Vec::new();
        let remain = r.left();
        if declared > remain {
            problems.push(ListProblem::BlockOverrun { declared, remain });
        }
        let mut block = Reader::new(r.take(declared.min(remain)).unwrap_or(&[]));
        let mut found = Self::walk(&mut block);
        if found.problems.is_empty() {
            if problems.is_empty() && !r.is_empty() {
                problems.push(ListProblem::AfterBlock { count: r.left() });
                r.rest();
            }
            found.problems.splice(0..0, problems);
            found.check_repeats();
        }
        found
    }

    /// The entries of a block already cut to its length (a TLS 1.3 CertificateEntry's).
    pub fn walk(block: &mut Reader<'a>) -> Self {
        let mut list = Vec::new();
        while !block.is_empty() {
            let count = block.left();
            let (Ok(ext_type), Ok(declared)) = (block.u16(), block.u16()) else {
                let problems = vec![ListProblem::StrayBytes { count }];
                return Self { list, problems };
            };
            let declared = usize::from(declared);
            let Ok(data) = block.take(declared) else {
                let remain = block.left();
                let problems = vec![ListProblem::EntryOverrun {
                    ext_type,
                    declared,
                    remain,
                }];
                return Self { list, problems };
            };
            list.push(Extension { ext_type, data });
        }
        Self {
            list,
            problems: Vec::new(),
        }
    }

    /// A `Repeated` problem when a type is present more than once. The types are sorted,
    /// not hashed: a hello's block is read for every connection, and SipHash per entry (with
    /// a table allocated per block) cost more than sorting a few dozen `u16`s; sorting is
    /// O(n log n) whatever types the sender chose (at most 16,384 entries in a block).
    fn check_repeats(&mut self) {
        // A hello carries a few dozen extensions: those fit on the stack.
        let mut on_stack = [0u16; 64];
        let mut on_heap = Vec::new();
        let types = match on_stack.get_mut(..self.list.len()) {
            Some(types) => types,
            None => {
                on_heap.resize(self.list.len(), 0);
                &mut on_heap[..]
            }
        };
        for (slot, extension) in types.iter_mut().zip(&self.list) {
            *slot = extension.ext_type;
        }
        types.sort_unstable();
        if !types.windows(2).any(|pair| pair[0] == pair[1]) {
            return;
        }
        self.problems.push(repeated(&self.list, types));
    }

    /// Every reason, joined as one finding's text.
    pub fn describe(&self, message: &str, name: impl Fn(u16) -> String) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|problem| problem.describe(message, &name))
            .collect();
        Some(parts.join("; "))
    }

    /// The body of the first extension of `ext_type`.
    pub fn find(&self, ext_type: u16) -> Option<&'a [u8]> {
        self.list
            .iter()
            .find(|extension| extension.ext_type == ext_type)
            .map(|extension| extension.data)
    }
}

/// The `Repeated` problem of `list`, whose types, sorted, are `sorted` (some repeated).
fn repeated(list: &[Extension<'_>], sorted: &[u16]) -> ListProblem {
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    // The first repeat in the list's order: the first entry whose type came before it.
    let mut seen = vec![false; distinct.len()];
    let mut first = None;
    for extension in list {
        let Ok(at) = distinct.binary_search(&extension.ext_type) else {
            continue; // every type is in `distinct`
        };
        match seen.get_mut(at) {
            Some(true) => {
                first = Some(extension.ext_type);
                break;
            }
            Some(flag) => *flag = true,
            None => {}
        }
    }
    ListProblem::Repeated {
        count: list.len(),
        repeats: list.len() - distinct.len(),
        first: first.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8]) -> (Extensions<'_>, usize) {
        let mut r = Reader::new(data);
        let found = Extensions::read(&mut r);
        (found, r.left())
    }

    fn name(t: u16) -> String {
        format!("ext{t}")
    }

    #[test]
    fn absent_block_and_well_formed_entries() {
        let (empty, _) = read(&[]);
        assert_eq!(empty, Extensions::default());
        let (two, left) = read(&[0, 9, 0, 0, 0, 1, 7, 0xfe, 0xfe, 0, 0]);
        assert_eq!(left, 0);
        assert_eq!(
            two.list,
            vec![
                Extension {
                    ext_type: 0,
                    data: &[7]
                },
                Extension {
                    ext_type: 0xfefe,
                    data: &[]
                }
            ]
        );
        assert_eq!(two.describe("ClientHello", name), None);
        assert_eq!(two.find(0xfefe), Some(&[][..]));
        assert_eq!(two.find(5), None);
    }

    #[test]
    fn a_stray_byte_is_left_for_the_message_to_refuse() {
        let (found, left) = read(&[0]);
        assert_eq!(left, 1);
        assert_eq!(
            found.describe("ClientHello", name).as_deref(),
            Some("ClientHello: one stray byte where the extensions block should start")
        );
    }

    #[test]
    fn an_overrunning_block_keeps_what_is_there() {
        let (found, left) = read(&[0, 20, 0, 23, 0, 0]);
        assert_eq!(left, 0);
        assert_eq!(found.list.len(), 1);
        assert_eq!(
            found.describe("ServerHello", name).as_deref(),
            Some("ServerHello: extensions block declares 20 bytes, 4 remain")
        );
    }

    #[test]
    fn faults_inside_the_block_keep_the_entries_before_them() {
        let (stray, _) = read(&[0, 6, 0, 23, 0, 0, 1, 2]);
        assert_eq!(stray.list.len(), 1);
        assert_eq!(
            stray.describe("M", name).as_deref(),
            Some("M: 2 stray bytes in the extensions block")
        );
        let (over, _) = read(&[0, 6, 0, 23, 0, 5, 1, 2]);
        assert!(over.list.is_empty());
        assert_eq!(
            over.describe("M", name).as_deref(),
            Some("M: extension 23 declares 5 bytes, 2 remain in the block")
        );
    }

    #[test]
    fn bytes_after_the_block_and_repeats_are_both_told() {
        let (after, left) = read(&[0, 0, 9, 9]);
        assert_eq!(left, 0);
        assert_eq!(
            after.describe("M", name).as_deref(),
            Some("M: 2 bytes after the extensions block")
        );
        let (twice, _) = read(&[0, 12, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            twice.describe("M", name).as_deref(),
            Some(
                "M: 3 extensions, 1 of them repeating a type already present (the first: \
                 ext1); RFC 8446 §4.2 and RFC 5246 §7.4.1.4 allow one of each type"
            )
        );
        let (both, _) = read(&[0, 12, 0, 1, 0, 0, 0, 1, 0, 0]);
        assert_eq!(both.problems.len(), 2);
        assert!(both
            .describe("M", name)
            .unwrap()
            .contains("; M: 2 extensions"));
    }

    /// A block of empty extensions of `types`, in order.
    fn block(types: &[u16]) -> Vec<u8> {
        let mut data = u16::try_from(types.len() * 4)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        for t in types {
            data.extend(t.to_be_bytes());
            data.extend([0, 0]);
        }
        data
    }

    /// The repeats as a set of the types seen tells them (the rule the sort replaced).
    fn by_set(types: &[u16]) -> Option<ListProblem> {
        let mut seen = std::collections::HashSet::new();
        let first = types.iter().copied().find(|t| !seen.insert(*t))?;
        let distinct: std::collections::HashSet<u16> = types.iter().copied().collect();
        Some(ListProblem::Repeated {
            count: types.len(),
            repeats: types.len() - distinct.len(),
            first,
        })
    }

    #[test]
    fn repeats_are_told_as_a_set_of_the_types_seen_tells_them() {
        let long: Vec<u16> = (0..200).map(|i| (i * 7919 % 150) as u16).collect();
        let cases: Vec<Vec<u16>> = vec![
            vec![],
            vec![5],
            vec![5, 5],
            vec![3, 1, 2, 1, 3],
            vec![0xfafa, 0, 10, 0xfafa, 0, 0],
            (0..64).collect(),
            (0..64).chain([63]).collect(),
            (0..65).rev().collect(),
            (0..100).chain([99, 3, 3]).collect(),
            long,
        ];
        for types in cases {
            let data = block(&types);
            let (found, left) = read(&data);
            assert_eq!(left, 0);
            assert_eq!(found.list.len(), types.len());
            assert_eq!(
                found.problems,
                by_set(&types).into_iter().collect::<Vec<_>>(),
                "{types:?}"
            );
        }
    }
}
