"""Online bin packing (FunSearch): instances, the trusted packing loop and the verifier."""
