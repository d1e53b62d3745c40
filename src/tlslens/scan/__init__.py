"""The scanner's core, sans-IO: probes tlslens writes itself, what their answers mean,
and the grade. The sockets are in ``net.sweep``."""
