//! placeholder
pub fn run(_args: Vec<String>) -> crate::Result<()> {
    Ok(())
}
