<%@ Page Language="C#" %>
<script runat="server">
    // Near miss: reads a query parameter; the eval below is client-side JS.
    protected string Query => Server.HtmlEncode(Request.QueryString["q"]);
</script>
<script>var data = eval(xhr.responseText);</script>
