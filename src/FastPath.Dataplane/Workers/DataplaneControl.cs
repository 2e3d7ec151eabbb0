// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Workers;

/// <summary>
/// The few flags shared between the workers and the thread that runs the dataplane. Shutdown is two-phase:
/// the controller asks to stop; each worker stops polling rx and says so; a worker leaves only once every
/// worker has stopped rx (nothing more can be handed to it) and its inbound rings are empty.
/// </summary>
public sealed class DataplaneControl
{
    private volatile bool _stopRequested; // controller writes once; workers read every loop
    private readonly int[] _rxStopped;     // worker i writes slot i once; every worker reads all

    public DataplaneControl(int workers) => _rxStopped = new int[workers];

    public bool StopRequested => _stopRequested;

    public void RequestStop() => _stopRequested = true;

    public void MarkRxStopped(int worker) => Volatile.Write(ref _rxStopped[worker], 1);

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
}
