//! Work buffers kept per thread from one kernel call to the next.
//!
//! Some kernels need megabytes of working memory that never leaves them: the patch matrices of
//! a convolution are the largest. Allocating such a buffer afresh on every call costs a pass of
//! zeros over it and, when the allocator has returned the pages to the system, a page fault
//! per 4 KiB; in a small CNN's training step that was about a tenth of the time. A
//! [`Scratch`] buffer is instead taken from a small per-thread pool and handed back when
//! dropped, so a training loop reuses the same memory every step.
//!
//! A buffer taken from the pool holds whatever its last user left in it. Kernels that use one
//! must write every element before they read it, which is what a patch matrix or a product's
//! destination does anyway.

use std::any::Any;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use crate::dtype::Element;

/// Buffers a thread keeps for later calls; beyond this the smallest are freed.
const KEPT_PER_THREAD: usize = 4;

thread_local! {
    /// This thread's free buffers, each a `Vec<E>` for some element type `E`, with its size in
    /// bytes.
    static FREE: RefCell<Vec<(usize, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` elements of `E` borrowed from this thread's pool (see the module docs):
/// its contents are unspecified until written. Dereferences to `[E]`.
pub(crate) struct Scratch<E: Element> {
    buffer: Vec<E>,
    len: usize,
}

impl<E: Element> Scratch<E> {
    /// A buffer of `len` elements: the pool's largest `Vec<E>`, grown (with zeros) if it is
    /// shorter, or a new one when the pool has none.
    pub(crate) fn new(len: usize) -> Self {
        let reused = FREE.with(|free| {
            let mut free = free.borrow_mut();
            let largest = (0..free.len())
                .filter_map(|i| free[i].1.downcast_ref::<Vec<E>>().map(|v| (v.len(), i)))
                .max()
                .map(|(_, i)| i);
            largest.map(|i| free.swap_remove(i).1)
        });
        let mut buffer = reused.map(|b| *b.downcast::<Vec<E>>().expect("filtered by type")).unwrap_or_default();
        if buffer.len() < len {
            buffer.resize(len, E::zero());
        }
        Scratch { buffer, len }
    }
}

impl<E: Element> Deref for Scratch<E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        &self.buffer[..self.len]
    }
}

impl<E: Element> DerefMut for Scratch<E> {
    fn deref_mut(&mut self) -> &mut [E] {
        &mut self.buffer[..self.len]
    }
}

impl<E: Element> Drop for Scratch<E> {
    /// Hands the buffer back to this thread's pool, freeing the pool's smallest buffer when it
    /// would hold more than [`KEPT_PER_THREAD`].
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        // `try_with`: during thread teardown the pool may already be gone; the buffer is then
        // simply freed.
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            free.push((buffer.len() * std::mem::size_of::<E>(), Box::new(buffer)));
            if free.len() > KEPT_PER_THREAD {
                let smallest = (0..free.len()).min_by_key(|&i| free[i].0).expect("not empty");
                free.swap_remove(smallest);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_and_grown_on_demand() {
        let address = {
            let mut a = Scratch::<f32>::new(1000);
            a.fill(3.0);
            a.as_ptr()
        };
        let b = Scratch::<f32>::new(10);
        assert_eq!(b.len(), 10);
        assert_eq!(b.as_ptr(), address, "the same memory comes back");
        drop(b);
        let c = Scratch::<f32>::new(5000);
        assert_eq!(c.len(), 5000);
        // Another element type never receives it.
        let d = Scratch::<f64>::new(10);
        assert_eq!(d.len(), 10);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let held: Vec<Scratch<f64>> = (0..10).map(|i| Scratch::new(100 + i)).collect();
        drop(held);
        FREE.with(|free| assert!(free.borrow().len() <= KEPT_PER_THREAD));
    }
}
