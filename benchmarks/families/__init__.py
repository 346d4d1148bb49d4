"""Per-family benchmark profiles: only what is specific to a model (its bare forward, its real weights,
its extra methods and sections). A family without a module here is measured with the default
`harness.profile.Profile`. Each module defines ``PROFILE``, a `Profile` subclass."""
