"""EDGE: the HTML report (`tlslens report`): one self-contained page per capture or live
connection. data.py turns the model into what the page shows; page.py renders it."""
