//! Finding where a non-finite value first appears. Normal steps check nothing (one thread-local
//! flag read per linear layer); when a step's loss or gradient is not finite, the trainer
//! replays that step — same data, same dropout masks — inside [`watch`], and every named layer
//! checks its output, so the error can name the first module that produced an inf or NaN.
use candle_core::{Result, Tensor};
use std::cell::{Cell, RefCell};

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static FIRST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with output checks on; returns its result and the name of the first module whose
/// output was not finite, if any.
pub fn watch<T>(f: impl FnOnce() -> T) -> (T, Option<String>) {
    let before = WATCHING.with(|w| w.replace(true));
    FIRST.with(|first| first.borrow_mut().take());
    let result = f();
    WATCHING.with(|w| w.set(before));
    (result, FIRST.with(|first| first.borrow_mut().take()))
}

/// Called by named layers with their output: records `module` if it is the first non-finite
/// one while watching; does nothing otherwise.
pub(crate) fn inspect(module: &str, output: &Tensor) -> Result<()> {
    if !WATCHING.with(Cell::get) || FIRST.with(|f| f.borrow().is_some()) {
        return Ok(());
    }
    if !is_finite(output)? {
        FIRST.with(|f| *f.borrow_mut() = Some(module.to_string()));
    }
    Ok(())
}

/// Whether every element is finite.
pub fn is_finite(t: &Tensor) -> Result<bool> {
    // a sum of squares is finite only if every element is (or it overflows, which also
    // deserves a look)
    let total = t
        .to_dtype(candle_core::DType::F32)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(total.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn names_the_first_non_finite_output_only_while_watching() -> Result<()> {
        let good = Tensor::new(&[1f32, 2.0], &Device::Cpu)?;
        let bad = Tensor::new(&[1f32, f32::NAN], &Device::Cpu)?;
        inspect("outside", &bad)?;
        let ((), first) = watch(|| {
            inspect("a", &good).unwrap();
            inspect("b", &bad).unwrap();
            inspect("c", &bad).unwrap();
        });
        assert_eq!(first.as_deref(), Some("b"));
        let ((), none) = watch(|| inspect("a", &good).unwrap());
        assert_eq!(none, None);
        Ok(())
    }
}
