"""Frames written for a connection recorded above TCP (``synth``, for ``connect``'s pcapng);
frames are read into flows by the compiled core (crates/tlslens-core/src/flows)."""
