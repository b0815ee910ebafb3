namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Returned by <c>AddRendezvousServer()</c>; security and other pieces plug in through
/// extension methods on it (for example <c>AddTotpSecurity()</c> or <see cref="RendezvousServerBuilderExtensions.AddPolicy{TPolicy}"/>).
/// </summary>
public interface IRendezvousServerBuilder
{
    /// <summary>The service collection the server is registered in.</summary>
    IServiceCollection Services { get; }
}
