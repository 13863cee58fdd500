//! Choosing the compute device: the CPU (Burn's Flex backend) always, CUDA when this crate is
//! built with the `cuda` feature.

use dualenc_model::ModelBackend;

use crate::error::{InferError, Result};

/// The device a command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum DeviceChoice {
    /// CUDA when built with it, else the CPU.
    #[default]
    Auto,
    /// The CPU (Flex backend).
    Cpu,
    /// The first CUDA GPU; an error in a build without CUDA.
    Cuda,
}

/// Whether this build includes the CUDA backend.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Work generic over the backend, run by [`run_on`] on the chosen device.
pub trait BackendTask {
    /// What the work returns.
    type Output;
    /// Runs the work on `device` of backend `B`.
    fn run<B: ModelBackend>(self, device: B::Device) -> Result<Self::Output>;
}

/// Where work runs once the choice is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedDevice {
    /// The CPU (Flex backend).
    Cpu,
    /// CUDA GPU 0.
    Cuda,
}

/// Resolves `choice`: `Auto` is CUDA when this build has it and a GPU answers, else the CPU;
/// `Cuda` without either is an error saying which is missing (Burn's CUDA runtime would
/// panic deep inside instead).
pub fn resolve_device(choice: DeviceChoice) -> std::result::Result<ResolvedDevice, String> {
    match (choice, CUDA_BUILT) {
        (DeviceChoice::Cpu, _) | (DeviceChoice::Auto, false) => Ok(ResolvedDevice::Cpu),
        (DeviceChoice::Cuda, false) => {
            Err("this binary was built without CUDA: rebuild with the \
             `cuda` feature (cargo build --release -p dualenc --features cuda) or use --device cpu"
                .into())
        }
        (DeviceChoice::Cuda, true) => cuda_probe::gpu_count()
            .map(|_| ResolvedDevice::Cuda)
            .map_err(|why| format!("--device cuda: {why}; use --device cpu")),
        (DeviceChoice::Auto, true) => match cuda_probe::gpu_count() {
            Ok(_) => Ok(ResolvedDevice::Cuda),
            Err(why) => {
                tracing::warn!("{why}: running on the CPU");
                Ok(ResolvedDevice::Cpu)
            }
        },
    }
}

/// Runs `task` on the chosen device.
pub fn run_on<T: BackendTask>(choice: DeviceChoice, task: T) -> Result<T::Output> {
    match resolve_device(choice).map_err(InferError::Device)? {
        ResolvedDevice::Cpu => {
            tracing::info!("device: CPU (Flex backend)");
            task.run::<dualenc_model::CpuBackend>(Default::default())
        }
        ResolvedDevice::Cuda => run_cuda(task),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<T: BackendTask>(task: T) -> Result<T::Output> {
    tracing::info!("device: CUDA GPU 0");
    task.run::<burn::backend::Cuda>(Default::default())
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: BackendTask>(_task: T) -> Result<T::Output> {
    Err(InferError::Device("CUDA is not part of this build".into()))
}

/// Asks the CUDA driver how many GPUs it sees, loading it the way Burn's runtime will.
#[cfg(feature = "cuda")]
mod cuda_probe {
    use std::ffi::{c_char, c_int, c_uint, CStr};

    type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;

    /// The number of GPUs, or why there is none to use.
    pub fn gpu_count() -> Result<usize, String> {
        // SAFETY: a NUL-terminated library name; the handle stays open (Burn loads the same
        // library next, and unloading a driver library is never needed).
        let lib = unsafe { libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW) };
        if lib.is_null() {
            return Err(format!(
                "the CUDA driver could not be loaded ({})",
                dl_error()
            ));
        }
        // SAFETY: the symbols have these signatures in every CUDA driver API version.
        let (init, count) = unsafe {
            let init = symbol(lib, c"cuInit")?;
            let count = symbol(lib, c"cuDeviceGetCount")?;
            (
                std::mem::transmute::<*mut libc::c_void, CuInit>(init),
                std::mem::transmute::<*mut libc::c_void, CuDeviceGetCount>(count),
            )
        };
        // SAFETY: plain driver calls with a valid out pointer.
        let status = unsafe { init(0) };
        if status != 0 {
            return Err(format!(
                "the CUDA driver failed to start (cuInit error {status})"
            ));
        }
        let mut gpus: c_int = 0;
        let status = unsafe { count(&mut gpus) };
        match (status, gpus) {
            (0, n) if n > 0 => Ok(n as usize),
            (0, _) => Err("the CUDA driver sees no GPU".into()),
            (e, _) => Err(format!("the CUDA driver failed to count GPUs (error {e})")),
        }
    }

    /// `name` in the library `lib`.
    unsafe fn symbol(lib: *mut libc::c_void, name: &CStr) -> Result<*mut libc::c_void, String> {
        // SAFETY: `lib` is a live handle and `name` NUL-terminated.
        let sym = unsafe { libc::dlsym(lib, name.as_ptr()) };
        if sym.is_null() {
            Err(format!("the CUDA driver lacks {name:?} ({})", dl_error()))
        } else {
            Ok(sym)
        }
    }

    /// The dynamic loader's last error message.
    fn dl_error() -> String {
        // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next call.
        let msg: *const c_char = unsafe { libc::dlerror() };
        if msg.is_null() {
            "no reason given".into()
        } else {
            unsafe { CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// Without the `cuda` feature there is no driver to ask.
#[cfg(not(feature = "cuda"))]
mod cuda_probe {
    /// Never called: [`super::resolve`] checks [`super::CUDA_BUILT`] first.
    pub fn gpu_count() -> Result<usize, String> {
        Err("CUDA is not part of this build".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_available_and_auto_never_fails() {
        assert_eq!(resolve_device(DeviceChoice::Cpu), Ok(ResolvedDevice::Cpu));
        assert!(resolve_device(DeviceChoice::Auto).is_ok());
    }

    #[test]
    fn cuda_without_a_usable_gpu_says_what_to_do() {
        if let Err(why) = resolve_device(DeviceChoice::Cuda) {
            assert!(why.contains("--device cpu"), "{why}");
        }
    }
}
