//! What a flow holds, as the allocator counts it: the counts that `Limits.max_held` bounds
//! (the flow table's reassembly, a session's record layer, a content layer's messages being
//! gathered, and what the caller keeps of a flow it was told).

/// What an allocation of `bytes` takes from the allocator: its header, rounded up to 16
/// bytes, 32 at least (glibc's malloc); nothing for none.
pub fn allocated(bytes: usize) -> usize {
    if bytes == 0 {
        return 0;
    }
    (bytes + 8).next_multiple_of(16).max(32)
}

/// What a buffer's allocation takes (its capacity, not its length: room kept is held).
pub fn buffer(bytes: &Vec<u8>) -> usize {
    allocated(bytes.capacity())
}

/// What a boxed value of type `T` takes.
pub fn boxed<T>() -> usize {
    allocated(std::mem::size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_costs_its_header_and_rounding() {
        assert_eq!(allocated(0), 0);
        assert_eq!(allocated(1), 32);
        assert_eq!(allocated(24), 32);
        assert_eq!(allocated(25), 48);
        assert_eq!(allocated(1460), 1472);
        let mut room = Vec::with_capacity(100);
        room.push(1u8);
        assert_eq!(buffer(&room), 112);
    }
}
