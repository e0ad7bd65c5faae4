//! Flow storage: a slab of entries threaded on intrusive doubly linked lists, so that expiry
//! order is kept in O(1) per packet and every list holds exactly the live flows (no stale
//! timer entries accumulate while short flows churn).

pub(crate) const NIL: u32 = u32::MAX;

/// Which of an entry's two list memberships: its idle-timeout list or the report list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
    Idle = 0,
    Report = 1,
}

#[derive(Debug, Clone, Copy)]
struct Links {
    prev: u32,
    next: u32,
}

const UNLINKED: Links = Links { prev: NIL, next: NIL };

#[derive(Debug)]
struct Node<E> {
    value: E,
    links: [Links; 2],
}

/// A list head: oldest at `head`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> Self {
        List { head: NIL, tail: NIL }
    }
}

impl List {
    pub(crate) fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }
}

#[derive(Debug)]
pub(crate) struct Slab<E> {
    slots: Vec<Option<Node<E>>>,
    free: Vec<u32>,
    len: usize,
}

impl<E> Default for Slab<E> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<E> Slab<E> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: E) -> u32 {
        let node = Some(Node { value, links: [UNLINKED; 2] });
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = node;
                i
            }
            None => {
                self.slots.push(node);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Removes an entry; it must already be unlinked from every list.
    pub(crate) fn remove(&mut self, i: u32) -> Option<E> {
        let node = self.slots.get_mut(i as usize)?.take()?;
        debug_assert!(node.links.iter().all(|l| l.prev == NIL && l.next == NIL), "removing a linked entry");
        self.free.push(i);
        self.len -= 1;
        Some(node.value)
    }

    pub(crate) fn get(&self, i: u32) -> Option<&E> {
        self.slots.get(i as usize)?.as_ref().map(|n| &n.value)
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut E> {
        self.slots.get_mut(i as usize)?.as_mut().map(|n| &mut n.value)
    }

    fn links(&mut self, i: u32, c: Chain) -> &mut Links {
        match self.slots.get_mut(i as usize).and_then(Option::as_mut) {
            Some(n) => &mut n.links[c as usize],
            None => unreachable!("list points at an empty slot {i}"),
        }
    }

    pub(crate) fn push_back(&mut self, list: &mut List, c: Chain, i: u32) {
        *self.links(i, c) = Links { prev: list.tail, next: NIL };
        if list.tail == NIL {
            list.head = i;
        } else {
            self.links(list.tail, c).next = i;
        }
        list.tail = i;
    }

    pub(crate) fn unlink(&mut self, list: &mut List, c: Chain, i: u32) {
        let Links { prev, next } = *self.links(i, c);
        if prev == NIL {
            if list.head != i {
                return; // not on this list
            }
            list.head = next;
        } else {
            self.links(prev, c).next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.links(next, c).prev = prev;
        }
        *self.links(i, c) = UNLINKED;
    }

    /// Moves `i` to the back of `list` (most recently active).
    pub(crate) fn touch(&mut self, list: &mut List, c: Chain, i: u32) {
        if list.tail != i {
            self.unlink(list, c, i);
            self.push_back(list, c, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(s: &mut Slab<u32>, l: &List) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = l.head;
        while cur != NIL {
            out.push(*s.get(cur).unwrap());
            cur = s.links(cur, Chain::Idle).next;
        }
        out
    }

    #[test]
    fn lists_keep_order_through_touch_unlink_and_reuse() {
        let mut s = Slab::default();
        let mut l = List::default();
        let ids: Vec<u32> = (0..4).map(|v| s.insert(v)).collect();
        for &i in &ids {
            s.push_back(&mut l, Chain::Idle, i);
        }
        s.touch(&mut l, Chain::Idle, ids[1]);
        assert_eq!(order(&mut s, &l), [0, 2, 3, 1]);
        s.unlink(&mut l, Chain::Idle, ids[0]);
        assert_eq!(s.remove(ids[0]), Some(0));
        let again = s.insert(9);
        assert_eq!(again, ids[0], "slots are reused");
        s.push_back(&mut l, Chain::Idle, again);
        assert_eq!(order(&mut s, &l), [2, 3, 1, 9]);
        assert_eq!(s.len(), 4);
    }
}
