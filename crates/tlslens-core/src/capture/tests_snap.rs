//! A frame's length on the wire (`orig_len`) from every packet record that carries one:
//! what tells a frame cut by the capture's snap length from a packet that lies.

use super::*;

fn frames(data: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let mut reader = Reader::default();
    reader.feed(data);
    reader.finish(None);
    let batch = reader.poll();
    assert!(batch.problems.is_empty(), "{:?}", batch.problems);
    batch
        .frames
        .iter()
        .map(|frame| (batch.bytes(frame).to_vec(), frame.orig_len))
        .collect()
}

/// A pcapng block (little-endian): type, length, body padded to 4 bytes, length again.
fn block(btype: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let len = (body.len() + 12) as u32;
    [
        &btype.to_le_bytes()[..],
        &len.to_le_bytes(),
        &body,
        &len.to_le_bytes(),
    ]
    .concat()
}

/// A section header and one Ethernet interface of snap length `snaplen`.
fn section(snaplen: u32) -> Vec<u8> {
    let shb = [
        0x1A2B_3C4Du32.to_le_bytes(),
        [1, 0, 0, 0],
        [0xff; 4],
        [0xff; 4],
    ]
    .concat();
    let idb = [&1u16.to_le_bytes()[..], &[0, 0], &snaplen.to_le_bytes()].concat();
    [block(0x0A0D_0D0A, &shb), block(1, &idb)].concat()
}

#[test]
fn pcap_record_carries_its_original_length() {
    let header = [
        &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0][..], // magic (µs, little-endian), version 2.4
        &[0; 8],                                   // thiszone, sigfigs
        &100u32.to_le_bytes(),                     // snaplen
        &1u32.to_le_bytes(),                       // Ethernet
    ]
    .concat();
    let record = |incl: u32, orig: u32| {
        let ts = [0u8; 8];
        [
            &ts[..],
            &incl.to_le_bytes(),
            &orig.to_le_bytes(),
            &[0xab; 4][..incl as usize],
        ]
        .concat()
    };
    // Cut (4 of 1500 bytes), whole, and one whose original length claims less than it holds.
    let data = [header, record(4, 1500), record(4, 4), record(4, 2)].concat();
    let lens: Vec<usize> = frames(&data).iter().map(|(_, orig)| *orig).collect();
    assert_eq!(lens, [1500, 4, 4]);
}

#[test]
fn pcapng_enhanced_obsolete_and_simple_blocks_carry_their_original_length() {
    let epb = [
        &0u32.to_le_bytes()[..], // interface
        &[0; 8],                 // timestamp
        &5u32.to_le_bytes(),     // captured
        &1514u32.to_le_bytes(),  // original
        b"hello",
    ]
    .concat();
    let opb = [
        &0u16.to_le_bytes()[..], // interface
        &[0, 0],                 // drops
        &[0; 8],                 // timestamp
        &3u32.to_le_bytes(),     // captured
        &60u32.to_le_bytes(),    // original
        b"abc",
    ]
    .concat();
    let spb = [&80u32.to_le_bytes()[..], &[0x11; 8]].concat();
    // Snap length 6: a Simple Packet Block holds at most that much.
    let data = [section(6), block(6, &epb), block(2, &opb), block(3, &spb)].concat();
    let got = frames(&data);
    assert_eq!(
        got,
        [
            (b"hello".to_vec(), 1514),
            (b"abc".to_vec(), 60),
            (vec![0x11; 6], 80),
        ]
    );
}

#[test]
fn a_packet_block_whose_frame_would_run_into_its_trailer_is_a_problem() {
    // Claims 8 bytes, holds 4: the other 4 would be the block's trailing length.
    let epb = [
        &0u32.to_le_bytes()[..],
        &[0; 8],
        &8u32.to_le_bytes(),
        &8u32.to_le_bytes(),
        b"abcd",
    ]
    .concat();
    let data = [section(0), block(6, &epb)].concat();
    let mut reader = Reader::default();
    reader.feed(&data);
    reader.finish(None);
    let batch = reader.poll();
    assert!(batch.frames.is_empty());
    let messages: Vec<&str> = batch.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        ["packet block claims 8 bytes, its block holds fewer"]
    );
}
