// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Workers;

/// <summary>
/// The few flags and counters shared between the workers and the thread that runs the dataplane. Shutdown
/// is two-phase: the controller asks to stop; each worker stops polling rx and says so; a worker leaves
/// only once every worker has stopped rx and no handed-off frame is still travelling (a frame taken from a
/// ring can be handed on again, to the owner of the next recent key it needs). Every slot has one writer.
/// </summary>
public sealed class DataplaneControl
{
    // One cache line per worker for each counter, so a worker's writes never bounce a line another writes.
    private const int Stride = 16;

    private volatile bool _stopRequested; // controller writes once; workers read every loop
    private volatile bool _workerFailed;
    private readonly int[] _rxStopped;     // worker i writes slot i once; every worker reads all
    private readonly long[] _handedOff;    // frames worker i put on a ring
    private readonly long[] _finished;     // frames worker i took from a ring and finished with (handing on counts)

    public DataplaneControl(int workers)
    {
        _rxStopped = new int[workers];
        _handedOff = new long[(workers + 1) * Stride];
        _finished = new long[(workers + 1) * Stride];
    }

    public bool StopRequested => _stopRequested;

    public void RequestStop() => _stopRequested = true;

    public void MarkRxStopped(int worker) => Volatile.Write(ref _rxStopped[worker], 1);

    /// <summary>A worker died: nobody waits for the frames sitting in its rings.</summary>
    public void MarkFailed(int worker)
    {
        _workerFailed = true;
        MarkRxStopped(worker);
        RequestStop();
    }

    public bool AllRxStopped
    {
        get
        {
            for (int i = 0; i < _rxStopped.Length; i++)
            {
                if (Volatile.Read(ref _rxStopped[i]) == 0)
                    return false;
            }
            return true;
        }
    }

    /// <summary>Called by a worker after each successful enqueue on another worker's ring.</summary>
    public void CountHandedOff(int worker) => Volatile.Write(ref _handedOff[(worker + 1) * Stride], _handedOff[(worker + 1) * Stride] + 1);

    /// <summary>Called by a worker once it is done with frames it dequeued (after handing any of them on).</summary>
    public void CountFinished(int worker, long frames) => Volatile.Write(ref _finished[(worker + 1) * Stride], _finished[(worker + 1) * Stride] + frames);

    /// <summary>
    /// True when no handed-off frame is in a ring or being worked on. Finished counts are read before
    /// handed-off ones: both only grow and a frame is handed off before it is finished, so equal sums mean
    /// that at the instant between the two reads nothing was travelling; after rx stopped, nothing starts again.
    /// </summary>
    public bool NothingInFlight
    {
        get
        {
            if (_workerFailed)
                return true;
            long finished = 0, handedOff = 0;
            for (int i = 0; i < _rxStopped.Length; i++)
                finished += Volatile.Read(ref _finished[(i + 1) * Stride]);
            for (int i = 0; i < _rxStopped.Length; i++)
                handedOff += Volatile.Read(ref _handedOff[(i + 1) * Stride]);
            return finished == handedOff;
        }
    }
}
