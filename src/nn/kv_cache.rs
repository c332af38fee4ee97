//! Key/value caches for incremental decoding: preallocated buffers written in place, so that a
//! decoding step copies only its own new keys/values (no `cat` of the whole history).
use super::cpu::{all_cpu_f32, with_f32};
use candle_core::{Result, Tensor};

/// Keys and values (batch, heads, positions, head_dim) of one attention layer.
///
/// A self-attention cache grows with [`KvCache::append`] inside buffers of spare capacity
/// (doubled when full); a cross-attention cache is [`KvCache::set`] once. Cloning shares the
/// buffers (appends of one clone would show in the other), so there is no `Clone`.
#[derive(Default)]
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
    reserve: usize,
}

impl KvCache {
    /// An empty cache whose first append allocates room for `positions` positions.
    pub fn with_capacity(positions: usize) -> Self {
        Self {
            reserve: positions,
            ..Default::default()
        }
    }

    /// Whether no position is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocated positions (≥ `len`).
    fn capacity(&self) -> usize {
        self.k.as_ref().and_then(|k| k.dim(2).ok()).unwrap_or(0)
    }

    /// The cached keys and values, (batch, heads, len, head_dim) views into the buffers.
    pub fn view(&self) -> Result<Option<(Tensor, Tensor)>> {
        match (&self.k, &self.v) {
            (Some(k), Some(v)) => Ok(Some((k.narrow(2, 0, self.len)?, v.narrow(2, 0, self.len)?))),
            _ => Ok(None),
        }
    }

    /// Stores fixed keys and values (cross-attention), replacing any previous ones.
    pub fn set(&mut self, k: Tensor, v: Tensor) -> Result<()> {
        self.len = k.dim(2)?;
        self.k = Some(k);
        self.v = Some(v);
        Ok(())
    }

    /// Appends new positions (batch, heads, new, head_dim) and returns all keys and values.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let new = k.dim(2)?;
        let needed = self.len + new;
        if needed > self.capacity() {
            let capacity = needed.max(2 * self.capacity()).max(self.reserve);
            self.k = Some(grow(self.k.as_ref(), k, self.len, capacity)?);
            self.v = Some(grow(self.v.as_ref(), v, self.len, capacity)?);
        }
        let (kb, vb) = match (&self.k, &self.v) {
            (Some(kb), Some(vb)) => (kb, vb),
            _ => candle_core::bail!("kv cache without buffers"),
        };
        kb.slice_set(&k.contiguous()?, 2, self.len)?;
        vb.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len = needed;
        Ok((kb.narrow(2, 0, needed)?, vb.narrow(2, 0, needed)?))
    }

    /// Keeps the batch rows `rows` (in that order; repeats allowed): drops finished sequences,
    /// reorders beams. Copies only the filled positions.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        if let (Some(k), Some(v)) = (&self.k, &self.v) {
            let (k, v) = (
                select_prefix(k, rows, self.len)?,
                select_prefix(v, rows, self.len)?,
            );
            self.k = Some(k);
            self.v = Some(v);
        }
        Ok(())
    }
}

/// A new buffer (batch, heads, capacity, dim) holding the first `len` positions of `old`.
fn grow(old: Option<&Tensor>, like: &Tensor, len: usize, capacity: usize) -> Result<Tensor> {
    let (b, h, _, d) = like.dims4()?;
    let buffer = Tensor::zeros((b, h, capacity, d), like.dtype(), like.device())?;
    if let Some(old) = old {
        if len > 0 {
            buffer.slice_set(&old.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
        }
    }
    Ok(buffer)
}

/// Rows `rows` of a (batch, heads, capacity, dim) buffer, keeping its capacity, with only the
/// first `len` positions copied.
fn select_prefix(buffer: &Tensor, rows: &[u32], len: usize) -> Result<Tensor> {
    let (b, h, capacity, d) = buffer.dims4()?;
    if rows.len() == b && rows.iter().enumerate().all(|(i, &r)| i == r as usize) {
        return Ok(buffer.clone());
    }
    if rows.iter().any(|&r| r as usize >= b) {
        candle_core::bail!("kv cache: row out of range ({b} rows)");
    }
    if all_cpu_f32(&[buffer]) && buffer.is_contiguous() {
        let block = capacity * d;
        let used = len * d;
        let mut out = vec![0f32; rows.len() * h * block];
        with_f32(buffer, |src| {
            let src = &src[buffer.layout().start_offset()..];
            for (i, &r) in rows.iter().enumerate() {
                for head in 0..h {
                    let from = (r as usize * h + head) * block;
                    let to = (i * h + head) * block;
                    out[to..to + used].copy_from_slice(&src[from..from + used]);
                }
            }
            Ok(())
        })?;
        return Tensor::from_vec(out, (rows.len(), h, capacity, d), buffer.device());
    }
    let ids = Tensor::from_vec(rows.to_vec(), rows.len(), buffer.device())?;
    let out = Tensor::zeros(
        (rows.len(), h, capacity, d),
        buffer.dtype(),
        buffer.device(),
    )?;
    if len > 0 {
        let used = buffer
            .narrow(2, 0, len)?
            .contiguous()?
            .index_select(&ids, 0)?;
        out.slice_set(&used, 2, 0)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, IndexOp};

    #[test]
    fn append_grow_and_select_rows() -> Result<()> {
        let dev = Device::Cpu;
        let mut cache = KvCache::with_capacity(2);
        let mut all: Vec<Tensor> = Vec::new();
        for step in 0..5 {
            let k = Tensor::arange(0f32, 3.0 * 2.0 * 4.0, &dev)?
                .reshape((3, 2, 1, 4))?
                .affine(1.0, step as f64 * 100.0)?;
            let (kk, _) = cache.append(&k, &k)?;
            all.push(k);
            let want = Tensor::cat(&all, 2)?;
            assert_eq!(
                kk.flatten_all()?.to_vec1::<f32>()?,
                want.flatten_all()?.to_vec1::<f32>()?
            );
        }
        assert!(cache.capacity() >= 5);
        cache.select_rows(&[2, 0, 0])?;
        let (k, _) = cache.view()?.expect("filled");
        let want = Tensor::cat(&all, 2)?;
        for (i, r) in [2usize, 0, 0].into_iter().enumerate() {
            assert_eq!(
                k.i(i)?.flatten_all()?.to_vec1::<f32>()?,
                want.i(r)?.flatten_all()?.to_vec1::<f32>()?
            );
        }
        Ok(())
    }
}
