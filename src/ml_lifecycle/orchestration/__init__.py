"""Entry points that run pipelines one after another: what runs next lives here, not in a node."""
