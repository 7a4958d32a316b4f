//! prequel-bot's integration tests: they run the built `prequel` binary. One module per area.

mod parse;
