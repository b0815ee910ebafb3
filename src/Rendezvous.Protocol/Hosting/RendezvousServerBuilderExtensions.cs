using Microsoft.Extensions.DependencyInjection.Extensions;
using Rendezvous.Protocol.Policy;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Extensions that replace the policy of a Rendezvous server.</summary>
public static class RendezvousServerBuilderExtensions
{
    /// <summary>Uses <typeparamref name="TPolicy"/> (a singleton) to decide who may register, replacing any other policy.</summary>
    /// <typeparam name="TPolicy">The policy type.</typeparam>
    /// <param name="builder">The server builder.</param>
    /// <returns>The same builder.</returns>
    public static IRendezvousServerBuilder AddPolicy<TPolicy>(this IRendezvousServerBuilder builder)
        where TPolicy : class, IRegistrationPolicy
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.RemoveAll<IRegistrationPolicy>();
        builder.Services.AddSingleton<IRegistrationPolicy, TPolicy>();
        return builder;
    }

    /// <summary>Uses the given policy instance to decide who may register, replacing any other policy.</summary>
    /// <param name="builder">The server builder.</param>
    /// <param name="policy">The policy.</param>
    /// <returns>The same builder.</returns>
    public static IRendezvousServerBuilder AddPolicy(this IRendezvousServerBuilder builder, IRegistrationPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(policy);
        builder.Services.RemoveAll<IRegistrationPolicy>();
        builder.Services.AddSingleton(policy);
        return builder;
    }
}
