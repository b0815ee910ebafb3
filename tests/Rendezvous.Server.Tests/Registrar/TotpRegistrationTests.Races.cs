using System.Net;
using Rendezvous.Protocol;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>
/// Registrations racing each other over real HTTPS into a cold SQLite store: the same UUID with each of its valid codes
/// sent many times at once, beside other UUIDs registering at the same time.
/// </summary>
public sealed partial class TotpRegistrationTests
{
    [Test]
    public async Task Races_Concurrent_registrations_accept_each_code_at_most_once_fail_nothing_and_the_newest_accepted_cookie_wins_the_lookup()
    {
        const int copiesPerCode = 8;
        const int others = 12;
        const int copiesPerOther = 2;
        var shared = await AddSecretAsync();
        var otherEntries = new List<Security.SecretEntry>();
        for (var i = 0; i < others; i++)
        {
            otherEntries.Add(await AddSecretAsync());
        }

        // The previous, current and next steps' codes are all valid; the store only moves forward, so an older step is
        // refused once a newer one is in: the cookie that stays current must be the one of the newest step accepted.
        var attempts = Enumerable.Range(-1, 3).SelectMany(steps => Enumerable.Repeat((Uuid: shared.Uuid, Code: Code(shared, steps), Steps: steps), copiesPerCode))
            .Concat(otherEntries.SelectMany(e => Enumerable.Repeat((Uuid: e.Uuid, Code: Code(e), Steps: 0), copiesPerOther)))
            .ToList();
        using var start = new ManualResetEventSlim();
        var sent = attempts.Select(a => Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Short);
            return (Attempt: a, Reply: await _registrar.RegisterAsync(a.Uuid, a.Code));
        })).ToList();
        start.Set();
        var replies = await Task.WhenAll(sent).WaitAsync(TestTimeouts.Long);

        var accepted = replies.Where(r => r.Reply.Status == HttpStatusCode.OK && r.Reply.Body.Contains("\"R", StringComparison.Ordinal)).ToList();
        TestContext.Out.WriteLine($"{accepted.Count} accepted, {replies.Count(r => r.Reply.Body == InvalidRequest)} refused as replays, " +
            $"{replies.Count(r => r.Reply.Status == HttpStatusCode.TooManyRequests)} throttled; steps accepted for the shared UUID: " +
            string.Join(", ", accepted.Where(r => r.Attempt.Uuid == shared.Uuid).Select(r => r.Attempt.Steps).Order()));

        // Attempts in flight hold failure slots until they are decided (the throttle cannot be raced), so beyond the
        // limits some valid codes are throttled; nothing fails otherwise.
        Assert.Multiple(() =>
        {
            foreach (var (attempt, reply) in replies.Except(accepted))
            {
                Assert.That(reply.Status is HttpStatusCode.TooManyRequests ? reply.RetryAfter : reply.Body, reply.Status is HttpStatusCode.TooManyRequests ? Does.Match("^[0-9]+$") : Is.EqualTo(InvalidRequest), $"{attempt.Uuid}: {(int)reply.Status} {reply.Body}");
            }

            Assert.That(accepted.Count(r => r.Attempt.Uuid == shared.Uuid), Is.AtLeast(1), "the first attempt checked for the shared UUID is accepted");
            foreach (var group in attempts.DistinctBy(a => a.Code + a.Uuid))
            {
                Assert.That(accepted.Count(r => r.Attempt.Uuid == group.Uuid && r.Attempt.Code == group.Code), Is.AtMost(1), $"{group.Uuid} step {group.Steps:+0;-0;0}: a code is accepted once");
            }
        });

        foreach (var uuid in attempts.Select(a => a.Uuid).Distinct())
        {
            var cookies = accepted.Where(r => r.Attempt.Uuid == uuid).OrderBy(r => r.Attempt.Steps).Select(r => r.Reply.Triple.Bare).ToList();
            var lookup = await _registrar.LookUpAsync(uuid);
            if (cookies.Count == 0)
            {
                Assert.That(lookup.Body, Does.Contain("not registered"), $"{uuid}: every attempt was throttled, nothing is registered");
                continue;
            }

            var newest = cookies[^1];
            Assert.Multiple(() =>
            {
                Assert.That(lookup.Status, Is.EqualTo(HttpStatusCode.OK));
                Assert.That(cookies.Where(_server.Broker.IsCurrent), Is.EqualTo(new[] { newest }), $"{uuid}: only the cookie of the newest accepted step is current");
                Assert.That(lookup.Triple.Cookie, Is.EqualTo("I" + RendezvousCookies.InitiatorValueFor(newest)), $"{uuid}: the lookup finds it");
            });
        }
    }
}
