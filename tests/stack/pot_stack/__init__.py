"""The local stack: real servers on loopback for `make up` and the tests."""
