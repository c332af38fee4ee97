//! Picking the widest vector instructions the CPU has, once per kernel call: the kernels are
//! written as plain loops that vectorise, and compiled three times over.

/// `$vis fn $name(args)` running `$generic` (an `#[inline(always)]` function, so that it is
/// compiled anew for each instruction set) with AVX-512, AVX2+FMA or baseline x86-64
/// instructions, whichever the CPU has.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $generic:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                $generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                $generic($($arg),*)
            }
            match $crate::nn::cpu::simd::simd() {
                // SAFETY: `simd()` checked that the CPU has these instructions.
                #[cfg(target_arch = "x86_64")]
                $crate::nn::cpu::simd::Simd::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::nn::cpu::simd::Simd::Avx2 => unsafe { avx2($($arg),*) },
                _ => $generic($($arg),*),
            }
        }
    };
}
pub(crate) use simd_dispatch;

/// The widest vector instructions this CPU has that the kernels are compiled for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    Avx512,
    Avx2,
    Scalar,
}

pub fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if has_avx2_fma() {
            return Simd::Avx2;
        }
    }
    Simd::Scalar
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
