using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Rendezvous.Client.Agent;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>
/// The admin page end to end in a real headless Chromium (Debian's chromium and chromium-driver, which eng/test.sh
/// installs): sign in, create an entry, see it listed, download its config file, rotate and delete, each with confirmation.
/// </summary>
[NonParallelizable]
public sealed class AdminBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string ChromeDriver = "/usr/bin/chromedriver";

    private AdminServer _server = null!;
    private TemporaryDirectory _browserFiles = null!;
    private ChromeDriver? _driver;
    private WebDriverWait _wait = null!;

    private string Downloads => _browserFiles.Combine("downloads");

    [SetUp]
    public async Task StartAsync()
    {
        if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
        {
            Assert.Ignore($"needs {Chromium} and {ChromeDriver} (Debian's chromium and chromium-driver; eng/test.sh installs them)");
        }

        _server = await AdminServer.StartAsync();
        _browserFiles = new TemporaryDirectory();
        Directory.CreateDirectory(Downloads);

        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments(
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + _browserFiles.Combine("profile"));
        options.AddUserProfilePreference("download.default_directory", Downloads);
        options.AddUserProfilePreference("download.prompt_for_download", false);
        _driver = new ChromeDriver(service, options, TestTimeouts.Long);
        _driver.Manage().Timeouts().PageLoad = TestTimeouts.Short;
        _wait = new WebDriverWait(_driver, TestTimeouts.Short);

        // A page being replaced by the next one is no failure: look again until the wait runs out.
        _wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
    }

    [TearDown]
    public async Task StopAsync()
    {
        // Quit ends the chromedriver and the browser it started (their own processes, by id).
        _driver?.Quit();
        _driver?.Dispose();
        _driver = null;
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _browserFiles?.Dispose();
    }

    [Test]
    public async Task An_operator_signs_in_creates_downloads_rotates_and_deletes_an_entry()
    {
        var driver = _driver!;
        const string Uuid = "4b0e6a8e-3c1d-4f8a-9d2e-7a5b6c4d3e2f";

        // Sign in: the list is behind the token.
        driver.Navigate().GoToUrl(new Uri(_server.AdminUrl, "/"));
        _wait.Until(d => d.Url.EndsWith("/login", StringComparison.Ordinal));
        driver.FindElement(By.Id("token")).SendKeys(_server.Token);
        driver.FindElement(By.Id("sign-in")).Click();
        _wait.Until(d => d.FindElement(By.TagName("h1")).Text == "Hidden servers");

        // Create an entry with a given UUID.
        driver.FindElement(By.Id("new-entry")).Click();
        _wait.Until(d => d.FindElement(By.TagName("h1")).Text == "New entry");
        driver.FindElement(By.Id("uuid")).SendKeys(Uuid);
        driver.FindElement(By.Id("create")).Click();
        _wait.Until(d => d.FindElement(By.TagName("h1")).Text == Uuid);
        Assert.That(driver.FindElement(By.Id("notice")).Text, Does.StartWith("Created " + Uuid));
        var created = await _server.Store.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short);
        Assert.That(created, Is.Not.Null);

        // It is in the list.
        driver.FindElement(By.ClassName("brand")).Click();
        _wait.Until(d => d.FindElements(By.CssSelector($"tr[data-uuid='{Uuid}']")).Count == 1);

        // Download its config file: what expose reads, with the stored secret.
        driver.FindElement(By.CssSelector($"tr[data-uuid='{Uuid}'] a")).Click();
        _wait.Until(d => d.FindElement(By.TagName("h1")).Text == Uuid);
        driver.FindElement(By.Id("download")).Click();
        var file = Path.Combine(Downloads, Uuid + ".json");
        _wait.Until(_ => File.Exists(file) && !Directory.EnumerateFiles(Downloads, "*.crdownload").Any());
        Assert.That(HiddenServerConfigFile.TryLoad(file, out var downloaded, out var error), Is.True, error);
        Assert.Multiple(() =>
        {
            Assert.That(downloaded!.Uuid, Is.EqualTo(Uuid));
            Assert.That(downloaded.Secret, Is.EqualTo(SecretFormat.ToBase32(created!.Secret)));
            Assert.That(downloaded.RegistrarFingerprint, Is.EqualTo(_server.Fingerprint));
        });

        // Rotate, after confirming: a new secret in the store, and on the page.
        driver.FindElement(By.Id("rotate")).Click();
        _wait.Until(d => d.FindElement(By.TagName("h1")).Text == $"Rotate the secret of {Uuid}?");
        Assert.That((await _server.Store.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short))!.Secret, Is.EqualTo(created!.Secret), "nothing is rotated before the confirmation");
        driver.FindElement(By.Id("confirm-rotate")).Click();
        _wait.Until(d => d.FindElement(By.Id("notice")).Text.StartsWith("Rotated", StringComparison.Ordinal));
        var rotated = await _server.Store.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short);
        Assert.Multiple(() =>
        {
            Assert.That(rotated!.Secret, Is.Not.EqualTo(created!.Secret));
            Assert.That(driver.FindElement(By.Id("config")).Text, Does.Contain(SecretFormat.ToBase32(rotated.Secret)));
        });

        // Delete, after confirming.
        driver.FindElement(By.Id("delete")).Click();
        _wait.Until(d => d.FindElement(By.TagName("h1")).Text == $"Delete {Uuid}?");
        Assert.That(await _server.Store.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short), Is.Not.Null, "nothing is deleted before the confirmation");
        driver.FindElement(By.Id("confirm-delete")).Click();
        _wait.Until(d => d.FindElement(By.Id("notice")).Text == $"Deleted {Uuid}.");
        Assert.Multiple(async () =>
        {
            Assert.That(driver.FindElements(By.CssSelector($"tr[data-uuid='{Uuid}']")), Is.Empty);
            Assert.That(await _server.Store.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short), Is.Null);
        });

        // Sign out: the list is behind the token again.
        driver.FindElement(By.Id("sign-out")).Click();
        _wait.Until(d => d.Url.EndsWith("/login", StringComparison.Ordinal));
        driver.Navigate().GoToUrl(new Uri(_server.AdminUrl, "/"));
        _wait.Until(d => d.Url.EndsWith("/login", StringComparison.Ordinal));
    }
}
