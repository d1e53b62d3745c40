//! Frames built by hand for every link type and hostile header, reassembly under any
//! segmentation, and the flow table's life cycle.

mod frames;
mod packet;
mod snap;
mod stream;
mod table;
mod udp;

/// A deterministic generator for the property tests (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

pub fn tcp_header(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

pub fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    frag: u16,
    options: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let ihl = (20 + options.len()) / 4;
    let total = (20 + options.len() + body.len()) as u16;
    let mut ip = vec![0x40 | ihl as u8, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(options);
    ip.extend_from_slice(body);
    ip
}

/// A UDP header before `payload`, its length field `length` (the true one when None).
pub fn udp_header(sport: u16, dport: u16, length: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let length = length.unwrap_or(8 + payload.len() as u16);
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&length.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

pub fn ipv6(next: u8, body: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(body.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[next, 64]);
    ip.extend_from_slice(&[0; 15]);
    ip.push(1);
    ip.extend_from_slice(&[0; 15]);
    ip.push(2);
    ip.extend_from_slice(body);
    ip
}

pub fn ethernet(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xAA; 12];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}
