// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Workers;

/// <summary>Work done on a worker's own thread against its own verdict stage (and so its own shards).</summary>
public delegate void VerdictAction<TVerdict>(ref TVerdict verdict) where TVerdict : struct, IVerdictStage;

/// <summary>
/// How the management thread gets something done by a worker without touching the worker's state: it
/// posts one action, the worker runs it between two polls and clears the slot. One slot per worker, one
/// poster (the management thread) and one runner (the worker): the worker never waits, it only looks.
/// </summary>
public sealed class WorkerMailbox<TVerdict> where TVerdict : struct, IVerdictStage
{
    private VerdictAction<TVerdict>? _pending;
    private Exception? _failure;

    /// <summary>Posts <paramref name="action"/>; false if the previous one has not been run yet.</summary>
    public bool TryPost(VerdictAction<TVerdict> action)
    {
        if (Volatile.Read(ref _pending) is not null)
            return false;
        _failure = null;
        Volatile.Write(ref _pending, action);
        return true;
    }

    /// <summary>True once the posted action has run (or nothing was posted).</summary>
    public bool IsIdle => Volatile.Read(ref _pending) is null;

    /// <summary>What the last action threw, read by the poster once <see cref="IsIdle"/>.</summary>
    public Exception? Failure => _failure;

    /// <summary>Called by the worker every loop; a failing action is reported to the poster, not to the worker loop.</summary>
    internal void RunPending(ref TVerdict verdict)
    {
        var action = Volatile.Read(ref _pending);
        if (action is null)
            return;
        try
        {
            action(ref verdict);
        }
        catch (Exception e)
        {
            _failure = e;
        }
        Volatile.Write(ref _pending, null);
    }
}
