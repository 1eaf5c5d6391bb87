//! Work done ahead of the release, on threads the kernel serves after the release's own.
//!
//! Why: the next round is rendered while the round before is sent and recorded (see
//! `prepare`). When every core is busy, as in a large release, the kernel shares them out
//! evenly, and the SQLite writer (the claim, the records), which every round waits for, lost
//! its core to rendering that is not yet needed. With the rendering threads at a lower priority
//! (nice +10) the writer runs first: ~6 % more messages per second on average in a 100 000-event
//! release (BENCHMARKS.md, issue 18, fourteenth round). On an idle machine nothing changes.

/// How much lower than the daemon's own the rendering threads' priority is (nice values).
const LOWER_BY: i32 = 10;

/// `f` over `items` in up to `threads` chunks, each on a thread of its own at a lower priority
/// (Linux: the nice value is per thread); the results in the order of `items`.
pub(super) fn in_background<T, R>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    if items.is_empty() {
        return Vec::new();
    }
    let per_thread = items.len().div_ceil(threads.max(1));
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    lower_priority();
                    f(chunk)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a rendering thread panicked"))
            .collect()
    })
}

/// Lowers the calling thread's priority by [`LOWER_BY`], to at most 19 (the lowest). A thread
/// may always lower its own priority; should the call fail, the thread runs on as it was.
/// Linux only: elsewhere the nice value belongs to the whole process, which must keep its own.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: getpriority/setpriority with `who = 0` act on the calling thread and touch no
    // memory of ours.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (now + LOWER_BY).min(19));
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn priority() -> i32 {
        // SAFETY: as in `lower_priority`.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn runs_on_threads_of_lower_priority_and_keeps_the_order() {
        let caller = priority();
        let items: Vec<u32> = (0..100).collect();
        let out = in_background(&items, 3, |chunk| {
            chunk
                .iter()
                .map(|i| (*i, priority(), std::thread::current().id()))
                .collect()
        });
        assert_eq!(
            out.iter().map(|o| o.0).collect::<Vec<_>>(),
            items,
            "in order"
        );
        assert!(out
            .iter()
            .all(|o| o.1 == (caller + LOWER_BY).min(19) && o.2 != std::thread::current().id()));
        let threads: std::collections::HashSet<_> = out.iter().map(|o| o.2).collect();
        assert_eq!(threads.len(), 3, "one thread per chunk");
        assert_eq!(priority(), caller, "the caller keeps its priority");
    }

    #[test]
    fn nothing_to_do_starts_no_thread() {
        let out: Vec<u32> = in_background(&[] as &[u32], 2, |_| panic!("called"));
        assert!(out.is_empty());
    }
}
