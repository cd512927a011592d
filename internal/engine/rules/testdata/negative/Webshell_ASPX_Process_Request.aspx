<%@ Page Language="C#" %>
<script runat="server">
    // Near miss: starts a fixed tool with a validated host from the form.
    protected void Ping(object s, EventArgs e)
    {
        var host = System.Net.IPAddress.Parse(Request.Form["host"]).ToString();
        Process.Start(new ProcessStartInfo("ping.exe", "-n 1 " + host));
    }
</script>
