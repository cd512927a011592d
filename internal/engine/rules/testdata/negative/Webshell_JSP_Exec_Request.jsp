<%@ page contentType="text/html; charset=UTF-8" import="java.io.*" %>
<%
    // Near miss: shows the uptime and echoes an escaped parameter; the
    // command is fixed.
    String who = request.getParameter("who");
    Process p = Runtime.getRuntime().exec(new String[]{"uptime"});
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
    out.println(org.owasp.encoder.Encode.forHtml(who) + ": " + r.readLine());
%>
