"""Link, IP and TCP: frames decoded into flows, each direction reassembled into a stream."""
