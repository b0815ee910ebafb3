using System.Net;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests;

/// <summary>
/// Model-based test of the relay's pairing rules: random sequences of registrations (a new one supersedes the old),
/// <c>R</c> and <c>I</c> lines (current, superseded, never issued, or the other mode's value), closes and resets of
/// parked connections, waiting initiators and sessions, and the grace time running out, through the real connection
/// handler and broker (in-memory connections, a fake clock), checked after every step against a small model of what
/// must happen: which connections are parked per registration, which initiator is paired with which parked connection
/// (each side's tag must reach exactly its partner), the refusals (<c>not registered</c>, <c>not ready</c>,
/// <c>too many sessions</c>), superseded and pool-full connections closed, and nothing held once everything ended.
/// CsCheck shrinks a failing sequence to a shortest one and prints its seed.
/// </summary>
public sealed class RendezvousModelTests
{
    private const int PoolSize = 2;
    private const int SessionCap = 2;
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);
    private static readonly string[] Uuids = ["uuid-a", "uuid-b"];
    private static readonly IPAddress[] Addresses = [IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.2")];

    /// <summary>How many random sequences a run tries (each up to <see cref="MaxSteps"/> steps).</summary>
    internal const int Sequences = 1000;

    private const int MaxSteps = 40;

    internal enum StepKind
    {
        Register,
        Unregister,
        Park,
        ParkWithInitiatorValue,
        Initiate,
        InitiateWithResponderValue,
        CloseParked,
        ResetParked,
        HalfCloseWaiter,
        ResetWaiter,
        CloseSession,
        ResetSession,
        Expire,
    }

    [Test]
    public async Task Random_sequences_of_registrations_parks_initiates_closes_resets_and_expiries_follow_the_model()
    {
        var uuid = Gen.Int[0, Uuids.Length - 1];
        var pick = Gen.Int[0, 3];
        var address = Gen.Int[0, Addresses.Length - 1];
        var step = Gen.Frequency(
            (3, uuid.Select(u => new Step(StepKind.Register, u, 0, 0))),
            (1, uuid.Select(u => new Step(StepKind.Unregister, u, 0, 0))),
            (6, Gen.Select(uuid, pick, (u, p) => new Step(StepKind.Park, u, p, 0))),
            (1, uuid.Select(u => new Step(StepKind.ParkWithInitiatorValue, u, 0, 0))),
            (6, Gen.Select(uuid, pick, address, (u, p, a) => new Step(StepKind.Initiate, u, p, a))),
            (1, Gen.Select(uuid, address, (u, a) => new Step(StepKind.InitiateWithResponderValue, u, 0, a))),
            (2, pick.Select(p => new Step(StepKind.CloseParked, 0, p, 0))),
            (1, pick.Select(p => new Step(StepKind.ResetParked, 0, p, 0))),
            (1, pick.Select(p => new Step(StepKind.HalfCloseWaiter, 0, p, 0))),
            (1, pick.Select(p => new Step(StepKind.ResetWaiter, 0, p, 0))),
            (2, pick.Select(p => new Step(StepKind.CloseSession, 0, p, 0))),
            (1, pick.Select(p => new Step(StepKind.ResetSession, 0, p, 0))),
            (2, Gen.Int[1, 6].Select(s => new Step(StepKind.Expire, 0, s, 0))));

        await step.Array[1, MaxSteps].SampleAsync(
            async steps =>
            {
                await using var world = new World();
                for (var i = 0; i < steps.Length; i++)
                {
                    await world.ApplyAsync(steps[i], i);
                    world.CheckState($"after step {i} ({steps[i]})");
                }

                await world.EndEverythingAndCheckAsync();
            },
            iter: Sequences,
            print: steps => string.Join(", ", steps));
    }

    /// <summary>One step of a sequence. <paramref name="Pick"/> chooses a registration, a connection or seconds.</summary>
    internal readonly record struct Step(StepKind Kind, int Uuid, int Pick, int Address)
    {
        public override string ToString() => Kind switch
        {
            StepKind.Register or StepKind.Unregister or StepKind.ParkWithInitiatorValue => $"{Kind}({Uuids[Uuid]})",
            StepKind.Park => $"Park({Uuids[Uuid]}, registration {Pick})",
            StepKind.Initiate => $"Initiate({Uuids[Uuid]}, registration {Pick}, from {Addresses[Address]})",
            StepKind.InitiateWithResponderValue => $"{Kind}({Uuids[Uuid]}, from {Addresses[Address]})",
            StepKind.Expire => $"Expire({Pick} s)",
            _ => $"{Kind}(#{Pick})",
        };
    }

    /// <summary>Thrown when the relay and the model disagree (CsCheck shrinks on any exception).</summary>
    private sealed class ModelMismatchException(string message) : Exception(message);

    private sealed class Registration(int uuid, string responderValue)
    {
        public int Uuid { get; } = uuid;

        public string ResponderValue { get; } = responderValue;

        public string InitiatorValue { get; } = RendezvousCookies.InitiatorValueFor(responderValue);

        /// <summary>Parked connections, oldest first.</summary>
        public List<Peer> Parked { get; } = [];

        /// <summary>Waiting initiators, first come first.</summary>
        public List<Peer> Waiters { get; } = [];
    }

    /// <summary>One connection and what its peer must read, from the model; <see langword="null"/> when it is not determined.</summary>
    private sealed class Peer(PipeRelayConnection connection, Task handling, string tag)
    {
        public PipeRelayConnection Connection { get; } = connection;

        public Task Handling { get; } = handling;

        /// <summary>What this peer sent after its line; its partner must read exactly this after <c>+OK</c>.</summary>
        public string Tag { get; } = tag;

        public string? Expected { get; set; }

        public Peer? Partner { get; set; }

        public Registration? Registration { get; set; }

        public (int Address, int Uuid)? SessionKey { get; set; }

        public DateTimeOffset Deadline { get; set; }

        public bool HalfClosed { get; set; }
    }

    private sealed class World : IAsyncDisposable
    {
        private const string NeverIssued = "bmV2ZXItaXNzdWVkLWNvb2tpZQ";

        private readonly FakeTimeProvider _time = new();
        private readonly RendezvousBroker _broker;
        private readonly RendezvousMetrics _metrics = new();
        private readonly RendezvousConnectionHandler _handler;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Peer> _peers = [];
        private readonly List<Registration>[] _issued = [.. Uuids.Select(_ => new List<Registration>())];
        private readonly Registration?[] _current = new Registration?[Uuids.Length];
        private readonly Dictionary<(int Address, int Uuid), int> _sessions = [];
        private readonly List<Peer> _liveSessions = [];
        private string _step = "start";

        public World()
        {
            var options = TestOptionsMonitor.Create(new RendezvousRelayOptions
            {
                InitiatorGracePeriod = Grace,
                ParkedConnectionsPerCookie = PoolSize,
                MaxSessionsPerAddressPerUuid = SessionCap,
            });
            _broker = new RendezvousBroker(options, _time);
            _handler = new RendezvousConnectionHandler(_broker, options, _time, _metrics);
        }

        private IEnumerable<Peer> AllParked => _current.Where(r => r is not null).SelectMany(r => r!.Parked);

        private IEnumerable<Peer> AllWaiters => _current.Where(r => r is not null).SelectMany(r => r!.Waiters);

        public async Task ApplyAsync(Step step, int index)
        {
            _step = $"step {index} ({step})";
            switch (step.Kind)
            {
                case StepKind.Register:
                    await RegisterAsync(step.Uuid, unregister: false);
                    break;
                case StepKind.Unregister:
                    await RegisterAsync(step.Uuid, unregister: true);
                    break;
                case StepKind.Park:
                    await ParkAsync(ChooseRegistration(step.Uuid, step.Pick)?.ResponderValue ?? NeverIssued, index);
                    break;
                case StepKind.ParkWithInitiatorValue:
                    await ParkAsync(_current[step.Uuid]?.InitiatorValue ?? NeverIssued, index);
                    break;
                case StepKind.Initiate:
                    await InitiateAsync(ChooseRegistration(step.Uuid, step.Pick)?.InitiatorValue ?? NeverIssued, step.Address, index);
                    break;
                case StepKind.InitiateWithResponderValue:
                    await InitiateAsync(_current[step.Uuid]?.ResponderValue ?? NeverIssued, step.Address, index);
                    break;
                case StepKind.CloseParked:
                case StepKind.ResetParked:
                    await EndParkedAsync(step.Pick, step.Kind == StepKind.ResetParked);
                    break;
                case StepKind.HalfCloseWaiter:
                    if (Choose(AllWaiters.Where(w => !w.HalfClosed), step.Pick) is { } halfClosing)
                    {
                        // A clean half-close is no reason to stop waiting: the initiator may wait for its answer.
                        halfClosing.Connection.CompleteSending();
                        halfClosing.HalfClosed = true;
                    }

                    break;
                case StepKind.ResetWaiter:
                    await ResetWaiterAsync(step.Pick);
                    break;
                case StepKind.CloseSession:
                case StepKind.ResetSession:
                    await EndSessionAsync(step.Pick, step.Kind == StepKind.ResetSession);
                    break;
                case StepKind.Expire:
                    await ExpireAsync(TimeSpan.FromSeconds(step.Pick));
                    break;
            }
        }

        /// <summary>
        /// Compares what the broker and the handler hold with the model; the sessions counted per address only once
        /// initiators that were just answered have finished (<paramref name="sessionsSettled"/>).
        /// </summary>
        public void CheckState(string when, bool sessionsSettled = true)
        {
            Expect(_broker.ParkedCount == AllParked.Count(), $"{when}: {_broker.ParkedCount} parked, the model has {AllParked.Count()}");
            for (var u = 0; u < Uuids.Length; u++)
            {
                var model = _current[u] is { } current ? (true, current.Parked.Count) : (false, 0);
                Expect(_broker.GetState(Uuids[u]) == model, $"{when}: {Uuids[u]} is {_broker.GetState(Uuids[u])}, the model has {model}");
                var found = _broker.TryGetInitiatorCookie(Uuids[u], out var lookup) ? lookup : null;
                Expect(found == _current[u]?.InitiatorValue, $"{when}: the lookup of {Uuids[u]} found {found ?? "nothing"}, the model has {_current[u]?.InitiatorValue ?? "nothing"}");
            }

            var sources = _sessions.Count(s => s.Value > 0);
            Expect(!sessionsSettled || _handler.SessionSourceCount == sources, $"{when}: {_handler.SessionSourceCount} (address, UUID) pairs hold sessions, the model has {sources}");
        }

        /// <summary>Ends every session, parked connection and waiting initiator, then checks that nothing is held and what every peer read.</summary>
        public async Task EndEverythingAndCheckAsync()
        {
            while (_liveSessions.Count > 0)
            {
                await EndSessionAsync(0, reset: false);
            }

            while (AllParked.Any())
            {
                await EndParkedAsync(0, reset: false);
            }

            await ExpireAsync(Grace);
            CheckState("after everything ended");
            Expect(_broker.ParkedCount == 0 && _handler.SessionSourceCount == 0, "something is still held after everything ended");
            await Task.WhenAll(_peers.Select(p => p.Handling)).WaitAsync(TestTimeouts.Short);
            foreach (var peer in _peers.Where(p => p.Expected is not null))
            {
                var read = await peer.Connection.ReadToEndAsciiAsync();
                Expect(read == peer.Expected, $"the peer that sent \"{peer.Tag}\" read \"{read}\", the model expects \"{peer.Expected}\"");
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            foreach (var peer in _peers)
            {
                await peer.Handling.WaitAsync(TestTimeouts.Short).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await peer.Connection.DisposeAsync();
            }

            _stop.Dispose();
            _metrics.Dispose();
        }

        private static void Expect(bool condition, string message)
        {
            if (!condition)
            {
                throw new ModelMismatchException(message);
            }
        }

        private static Peer? Choose(IEnumerable<Peer> peers, int pick)
        {
            var list = peers.ToList();
            return list.Count == 0 ? null : list[pick % list.Count];
        }

        /// <summary>The <paramref name="back"/>-th latest registration issued for the UUID (0: the latest), or none (a value never issued).</summary>
        private Registration? ChooseRegistration(int uuid, int back)
        {
            var issued = _issued[uuid];
            return back < issued.Count ? issued[^(back + 1)] : null;
        }

        private async Task RegisterAsync(int uuid, bool unregister)
        {
            var previous = _current[uuid];
            if (previous is not null)
            {
                // Superseded: parked connections closed without a word, waiting initiators told not registered.
                foreach (var parked in previous.Parked)
                {
                    parked.Expected = string.Empty;
                    parked.Registration = null;
                }

                foreach (var waiter in previous.Waiters)
                {
                    waiter.Expected = "-ERR not registered\n";
                    waiter.Registration = null;
                }
            }

            if (unregister)
            {
                Expect(_broker.Unregister(Uuids[uuid]) == (_current[uuid] is not null), $"Unregister({Uuids[uuid]}) answered wrong");
                _current[uuid] = null;
            }
            else
            {
                var registration = new Registration(uuid, _broker.Register(Uuids[uuid]));
                _issued[uuid].Add(registration);
                _current[uuid] = registration;
            }

            CheckState(_step, sessionsSettled: false);
            if (previous is not null)
            {
                await Task.WhenAll(previous.Parked.Select(p => p.Handling)).WaitAsync(TestTimeouts.Short);
                await Task.WhenAll(previous.Waiters.Select(w => w.Handling)).WaitAsync(TestTimeouts.Short);
                foreach (var waiter in previous.Waiters)
                {
                    LeaveSession(waiter);
                }
            }
        }

        private async Task ParkAsync(string cookie, int index)
        {
            var responder = await ConnectAsync($"R{cookie}\n", $"r{index:D3}.", Addresses[0]);
            var registration = _current.FirstOrDefault(r => r is not null && r.ResponderValue == cookie);
            if (registration is null)
            {
                await ExpectRefusalAsync(responder, "-ERR not registered\n");
                return;
            }

            if (registration.Waiters.Count > 0)
            {
                // The first initiator waiting is paired with it.
                var waiter = registration.Waiters[0];
                registration.Waiters.RemoveAt(0);
                await PairAsync(waiter, responder);
                return;
            }

            // A full pool closes its oldest connection.
            var displaced = registration.Parked.Count == PoolSize ? registration.Parked[0] : null;
            if (displaced is not null)
            {
                registration.Parked.RemoveAt(0);
                displaced.Expected = string.Empty;
                displaced.Registration = null;
            }

            responder.Registration = registration;
            registration.Parked.Add(responder);
            CheckState(_step);
            if (displaced is not null)
            {
                await displaced.Handling.WaitAsync(TestTimeouts.Short);
            }
        }

        private async Task InitiateAsync(string cookie, int address, int index)
        {
            var initiator = await ConnectAsync($"I{cookie}\n", $"i{index:D3}.", Addresses[address]);
            var registration = _current.FirstOrDefault(r => r is not null && r.InitiatorValue == cookie);
            if (registration is null)
            {
                await ExpectRefusalAsync(initiator, "-ERR not registered\n");
                return;
            }

            var key = (address, registration.Uuid);
            if (_sessions.GetValueOrDefault(key) >= SessionCap)
            {
                await ExpectRefusalAsync(initiator, "-ERR too many sessions\n");
                return;
            }

            _sessions[key] = _sessions.GetValueOrDefault(key) + 1;
            initiator.SessionKey = key;
            if (registration.Parked.Count > 0)
            {
                // The connection parked last is taken first.
                var newest = registration.Parked[^1];
                registration.Parked.RemoveAt(registration.Parked.Count - 1);
                await PairAsync(initiator, newest);
                return;
            }

            initiator.Registration = registration;
            initiator.Deadline = _time.GetUtcNow() + Grace;
            registration.Waiters.Add(initiator);
        }

        /// <summary>Both read <c>+OK</c> (the pairing is complete); each must then read the other's tag.</summary>
        private async Task PairAsync(Peer initiator, Peer responder)
        {
            initiator.Registration = null;
            responder.Registration = null;
            initiator.Partner = responder;
            responder.Partner = initiator;
            CheckState(_step);
            await ExpectReplyAsync(initiator, "+OK\n" + responder.Tag);
            await ExpectReplyAsync(responder, "+OK\n" + initiator.Tag);
            _liveSessions.Add(initiator);
        }

        private async Task EndParkedAsync(int pick, bool reset)
        {
            if (Choose(AllParked, pick) is not { } parked)
            {
                return;
            }

            parked.Registration!.Parked.Remove(parked);
            parked.Registration = null;
            parked.Expected = null;
            parked.Connection.CompleteSending(reset ? new IOException("reset by the test") : null);
            await parked.Handling.WaitAsync(TestTimeouts.Short);
        }

        private async Task ResetWaiterAsync(int pick)
        {
            if (Choose(AllWaiters.Where(w => !w.HalfClosed), pick) is not { } waiter)
            {
                return;
            }

            waiter.Registration!.Waiters.Remove(waiter);
            waiter.Registration = null;
            waiter.Expected = null;
            waiter.Connection.CompleteSending(new IOException("reset by the test"));
            await waiter.Handling.WaitAsync(TestTimeouts.Short);
            LeaveSession(waiter);
        }

        private async Task EndSessionAsync(int pick, bool reset)
        {
            if (Choose(_liveSessions, pick) is not { } initiator)
            {
                return;
            }

            var responder = initiator.Partner!;
            _liveSessions.Remove(initiator);
            if (reset)
            {
                initiator.Expected = null;
                responder.Expected = null;
                // A reset of either side aborts both; an initiator that half-closed can no longer reset its sending side.
                var resetting = initiator.HalfClosed ? responder : initiator;
                resetting.Connection.CompleteSending(new IOException("reset by the test"));
            }
            else
            {
                if (!initiator.HalfClosed)
                {
                    initiator.Connection.CompleteSending();
                }

                responder.Connection.CompleteSending();
            }

            await initiator.Handling.WaitAsync(TestTimeouts.Short);
            LeaveSession(initiator);
        }

        private async Task ExpireAsync(TimeSpan by)
        {
            _time.Advance(by);
            var now = _time.GetUtcNow();
            foreach (var registration in _current.Where(r => r is not null))
            {
                var expired = registration!.Waiters.Where(w => w.Deadline <= now).ToList();
                foreach (var waiter in expired)
                {
                    registration.Waiters.Remove(waiter);
                    waiter.Registration = null;
                    waiter.Expected = "-ERR not ready\n";
                    await waiter.Handling.WaitAsync(TestTimeouts.Short);
                    LeaveSession(waiter);
                }
            }
        }

        /// <summary>The peer is refused with <paramref name="reply"/>, and nothing changed.</summary>
        private async Task ExpectRefusalAsync(Peer peer, string reply)
        {
            CheckState(_step);
            await ExpectReplyAsync(peer, reply);
            await peer.Handling.WaitAsync(TestTimeouts.Short);
        }

        /// <summary>The peer reads <paramref name="reply"/> now (a different answer fails at once); after it, it must read nothing more.</summary>
        private async Task ExpectReplyAsync(Peer peer, string reply)
        {
            string read;
            try
            {
                read = await peer.Connection.ReadAsciiAsync(reply.Length);
            }
            catch (EndOfStreamException ex)
            {
                read = ex.Message;
            }

            Expect(read == reply, $"{_step}: the peer that sent \"{peer.Tag}\" read \"{read}\", the model expects \"{reply}\"");
            peer.Expected = string.Empty;
        }

        private void LeaveSession(Peer initiator)
        {
            if (initiator.SessionKey is { } key)
            {
                _sessions[key]--;
                initiator.SessionKey = null;
            }
        }

        /// <summary>
        /// A peer that has sent its line and tag before the handler starts, so that the handler parks, pairs or
        /// queues it before this returns (nothing in those steps waits).
        /// </summary>
        private async Task<Peer> ConnectAsync(string line, string tag, IPAddress from)
        {
            var connection = new PipeRelayConnection(remoteEndPoint: new IPEndPoint(from, 40000));
            await connection.SendAsync(line + tag);
            var peer = new Peer(connection, _handler.HandleAsync(connection, _stop.Token), tag);
            _peers.Add(peer);
            return peer;
        }
    }
}
