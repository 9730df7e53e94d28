namespace ShadowProxy.Logging;

/// <summary>
/// Runs a close at exit on a thread of its own, not the pool's: the pool may have no thread free then (stdout's writer
/// blocked in write(2) on a pipe nobody reads holds one, and with one CPU that is all it has until it grows, about once
/// a second), and a close queued behind that would not run within the exit's budget, losing what it would flush.
/// </summary>
internal static class ThreadOfItsOwn
{
    /// <returns>Completes when <paramref name="action"/> has run; waiting for it needs no pool thread either.</returns>
    public static Task Run(string name, Action action)
    {
        // Continuations run on this thread (no RunContinuationsAsynchronously): the waiter needs no pool thread.
        var done = new TaskCompletionSource();
        var thread = new Thread(
            state =>
            {
                var (run, completion) = ((Action, TaskCompletionSource))state!;
                try
                {
                    run();
                    completion.SetResult();
                }
                catch (Exception ex)
                {
                    completion.SetException(ex);
                }
            })
        {
            IsBackground = true,
            Name = name,
        };
        thread.UnsafeStart((action, done));
        return done.Task;
    }
}
