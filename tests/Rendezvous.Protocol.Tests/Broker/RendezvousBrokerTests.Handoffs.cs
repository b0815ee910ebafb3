using Rendezvous.Protocol.Broker;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Broker;

/// <summary>
/// A wait's outcome is handed over on the thread that decided it, once the broker's lock is released: the handler
/// that awaited it goes on at once (no thread-pool hop per rendezvous), and never under the lock, where it could stall
/// every other park and pairing.
/// </summary>
public sealed partial class RendezvousBrokerTests
{
    [Test]
    public async Task Paired_responder_learns_its_outcome_on_the_pairing_thread_outside_the_lock()
    {
        var cookie = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(cookie, parked);
        var observed = ObserveOnCompletion(parked.Outcome);

        var pairing = _broker.InitiateAsync(I(cookie));

        Assert.That(observed.IsCompleted, Is.True, "the outcome's continuation ran before the pairing returned");
        var (sameThread, lockFree) = await observed.WaitAsync(TestTimeouts.Short);
        Assert.That(sameThread, Is.True, "on the pairing thread, not a thread-pool worker");
        Assert.That(lockFree, Is.True, "another thread could take the broker's lock meanwhile");
        Assert.That((await pairing.AsTask().WaitAsync(TestTimeouts.Short)).Responder, Is.SameAs(parked));
    }

    [Test]
    public async Task Waiting_initiator_is_handed_its_responder_on_the_parking_thread_outside_the_lock()
    {
        var cookie = _broker.Register("uuid-1");
        var waiting = _broker.InitiateAsync(I(cookie)).AsTask();
        var observed = ObserveOnCompletion(waiting);
        var parked = NewResponder();

        _broker.Park(cookie, parked);

        Assert.That(observed.IsCompleted, Is.True, "the initiator went on before the park returned");
        var (sameThread, lockFree) = await observed.WaitAsync(TestTimeouts.Short);
        Assert.That(sameThread, Is.True);
        Assert.That(lockFree, Is.True);
        Assert.That((await waiting.WaitAsync(TestTimeouts.Short)).Responder, Is.SameAs(parked));
        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Paired));
    }

    [Test]
    public async Task Superseded_pool_is_closed_outside_the_lock()
    {
        _options.CurrentValue.ParkedConnectionsPerCookie = 3;
        var cookie = _broker.Register("uuid-1");
        var parked = new[] { NewResponder(), NewResponder(), NewResponder() };
        foreach (var responder in parked)
        {
            _broker.Park(cookie, responder);
        }

        var observed = parked.Select(p => ObserveOnCompletion(p.Outcome)).ToArray();

        _broker.Register("uuid-1");

        foreach (var (responder, seen) in parked.Zip(observed))
        {
            Assert.That(seen.IsCompleted, Is.True);
            Assert.That(await seen.WaitAsync(TestTimeouts.Short), Is.EqualTo((true, true)));
            Assert.That(await responder.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Superseded));
        }
    }

    /// <summary>
    /// Runs a synchronous continuation of <paramref name="task"/> that notes whether it runs on this thread and whether
    /// another thread can take the broker's lock meanwhile (a bounded wait, so a continuation under the lock fails fast).
    /// </summary>
    private Task<(bool SameThread, bool LockFree)> ObserveOnCompletion(Task task)
    {
        var thread = Environment.CurrentManagedThreadId;
        return task.ContinueWith(
            _ => (Environment.CurrentManagedThreadId == thread, Task.Run(() => _broker.RegistrationCount).Wait(TestTimeouts.Short)),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
