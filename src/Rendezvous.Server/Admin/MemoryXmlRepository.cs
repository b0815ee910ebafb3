using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Rendezvous.Server.Admin;

/// <summary>
/// Keeps the admin site's data-protection keys (they sign anti-forgery tokens) in memory only: nothing is written to
/// the user's profile, and a restart simply makes new ones. A handful of keys at most: one per key lifetime (90 days).
/// </summary>
internal sealed class MemoryXmlRepository : IXmlRepository
{
    private readonly Lock _lock = new();
    private readonly List<XElement> _elements = [];

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        lock (_lock)
        {
            return [.. _elements.Select(e => new XElement(e))];
        }
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        lock (_lock)
        {
            _elements.Add(new XElement(element));
        }
    }
}
