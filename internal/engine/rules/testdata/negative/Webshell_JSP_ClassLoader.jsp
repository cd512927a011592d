<%@ page import="java.util.Base64,javax.crypto.Cipher" %>
<%
    // Near miss: decrypts a base64 token from the request; loads no class.
    byte[] token = Base64.getDecoder().decode(request.getParameter("t"));
    Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
    session.setAttribute("token", token.length);
%>
