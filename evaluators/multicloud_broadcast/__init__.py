"""multicloud_broadcast (the ADRS "Cloudcast" problem): the region graph, the cost model, the
Steiner reference, the instances and the verifier."""
