"""Decryption: record protection undone, and one connection's decryptor."""
