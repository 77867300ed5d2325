"""The Faust agents, one module per pipeline stage; each has an `attach(pipeline)` that registers it."""
