/**
 * The name tables ipf, ipnat and ipftest consult: FreeBSD's /etc/services and
 * /etc/protocols as the base system ships them (usr.sbin/services_mkdb/services
 * and lib/libc/net/protocols), built in so a rule file reads the same on every
 * machine qjail runs on — never the Linux host's tables.
 *
 * Only what the tools look up is kept: service names (with aliases) for TCP
 * and UDP in file order, and protocol names (with aliases) and numbers.
 * Lookups follow libc: getservbyname() matches a name or alias exactly
 * (case matters) and returns the first entry in file order for the protocol;
 * getprotobyname() likewise; getprotobynumber() gives the entry's first name.
 */

/**
 * `name port protocols [alias ...]` separated by `;`, in /etc/services order;
 * protocols is `t` (tcp), `u` (udp) or `tu` (both).
 */
const SERVICES =
  "tcpmux 1 tu;compressnet 2 tu;compressnet 3 tu;rje 5 tu;echo 7 tu;discard 9 tu sink null;" +
  "systat 11 tu users;daytime 13 tu;qotd 17 tu quote;msp 18 tu;chargen 19 tu ttytst source;" +
  "ftp-data 20 tu;ftp 21 tu;ssh 22 tu;telnet 23 tu;smtp 25 tu mail;nsw-fe 27 tu;msg-icp 29 tu;" +
  "msg-auth 31 tu;dsp 33 tu;time 37 tu timserver;rap 38 tu;rlp 39 tu resource;graphics 41 tu;" +
  "nameserver 42 tu name;nicname 43 tu whois;mpm-flags 44 tu;mpm 45 tu;mpm-snd 46 tu;ni-ftp 47 tu;" +
  "auditd 48 tu;tacacs 49 tu;re-mail-ck 50 tu;la-maint 51 tu;xns-time 52 tu;domain 53 tu;xns-ch 54 tu;" +
  "isi-gl 55 tu;xns-auth 56 tu;xns-mail 58 tu;acas 62 tu;whoispp 63 tu whois++;covia 64 tu;" +
  "tacacs-ds 65 tu;sql-net 66 tu sql*net;bootps 67 tu dhcps;bootpc 68 tu dhcpc;tftp 69 tu;gopher 70 tu;" +
  "netrjs-1 71 tu;netrjs-2 72 tu;netrjs-3 73 tu;netrjs-4 74 tu;deos 76 tu;vettcp 78 tu;finger 79 tu;" +
  "http 80 tu www www-http;xfer 82 tu;mit-ml-dev 83 tu;ctf 84 tu;mit-ml-dev 85 tu;mfcobol 86 tu;" +
  "kerberos-sec 88 tu kerberos;su-mit-tg 89 tu;dnsix 90 tu;mit-dov 91 tu;npp 92 tu;dcp 93 tu;" +
  "objcall 94 tu;supdup 95 tu;dixie 96 tu;swift-rvf 97 tu;tacnews 98 tu;metagram 99 tu;newacct 100 t;" +
  "hostname 101 tu hostnames;iso-tsap 102 tu tsap;gppitnp 103 tu;acr-nema 104 tu;" +
  "csnet-ns 105 tu cso-ns cso;pop3pw 106 t 3com-tsmux;3com-tsmux 106 u;rtelnet 107 tu;snagas 108 tu;" +
  "pop2 109 tu postoffice;pop3 110 tu;sunrpc 111 tu rpcbind;mcidas 112 tu;auth 113 tu ident tap;" +
  "sftp 115 tu;ansanotify 116 tu;uucp-path 117 tu;sqlserv 118 tu;nntp 119 tu usenet;cfdptkt 120 tu;" +
  "erpc 121 tu;smakynet 122 tu;ntp 123 tu;ansatrader 124 tu;locus-map 125 tu;nxedit 126 tu;" +
  "locus-con 127 tu;gss-xlicen 128 tu;pwdgen 129 tu;cisco-fna 130 tu;cisco-tna 131 tu;cisco-sys 132 tu;" +
  "statsrv 133 tu;ingres-net 134 tu;epmap 135 tu;profile 136 tu;netbios-ns 137 tu;netbios-dgm 138 tu;" +
  "netbios-ssn 139 tu;emfis-data 140 tu;emfis-cntl 141 tu;bl-idm 142 tu;imap 143 tu imap2 imap4;" +
  "uma 144 tu;uaac 145 tu;iso-tp0 146 tu;iso-ip 147 tu;jargon 148 tu;aed-512 149 tu;sql-net 150 tu;" +
  "hems 151 tu;bftp 152 tu;sgmp 153 tu;netsc-prod 154 tu;netsc-dev 155 tu;sqlsrv 156 tu;" +
  "knet-cmp 157 tu;pcmail-srv 158 tu;nss-routing 159 tu;sgmp-traps 160 tu;snmp 161 tu;" +
  "snmptrap 162 tu snmp-trap;cmip-man 163 tu;cmip-agent 164 t;smip-agent 164 u;xns-courier 165 tu;" +
  "s-net 166 tu;namp 167 tu;rsvd 168 tu;send 169 tu;print-srv 170 tu;multiplex 171 tu;cl/1 172 tu;" +
  "xyplex-mux 173 tu;mailq 174 tu;vmnet 175 tu;genrad-mux 176 tu;xdmcp 177 tu;nextstep 178 tu;" +
  "bgp 179 tu;ris 180 tu;unify 181 tu;audit 182 tu;ocbinder 183 tu;ocserver 184 tu;remote-kis 185 tu;" +
  "kis 186 tu;aci 187 tu;mumps 188 tu;qft 189 tu;gacp 190 t;gacp 190 u cacp;prospero 191 tu;" +
  "osu-nms 192 tu;srmp 193 tu;irc 194 tu;dn6-nlm-aud 195 tu;dn6-smm-red 196 tu;dls 197 tu;" +
  "dls-mon 198 tu;smux 199 tu;src 200 tu;at-rtmp 201 tu;at-nbp 202 tu;at-3 203 tu;at-echo 204 tu;" +
  "at-5 205 tu;at-zis 206 tu;at-7 207 tu;at-8 208 tu;qmtp 209 tu;z39-50 210 tu z39.50 wais;" +
  "914c-g 211 tu 914c/g;anet 212 tu;ipx 213 tu;vmpwscs 214 tu;softpc 215 tu;CAIlic 216 tu atls;" +
  "dbase 217 tu;mpp 218 tu;uarps 219 tu;imap3 220 tu;fln-spx 221 tu;rsh-spx 222 tu;cdc 223 tu;" +
  "masqdialer 224 tu;direct 242 tu;sur-meas 243 tu;inbusiness 244 tu;link 245 tu;dsp3270 246 tu;" +
  "subntbcst-tftp 247 tu subntbcst_tftp;bhfhs 248 tu;rap 256 tu;set 257 tu;esro-gen 259 tu;" +
  "openport 260 tu;nsiiops 261 tu;arcisdms 262 tu;hdap 263 tu;bgmp 264 tu;x-bone-ctl 265 tu;sst 266 tu;" +
  "td-service 267 tu;td-replica 268 tu;manet 269 t;pt-tls 271 t;http-mgmt 280 tu;personal-link 281 tu;" +
  "cableport-ax 282 tu;rescap 283 tu;corerjd 284 tu;fxp 286 tu;k-block 287 tu;novastorbakcup 308 tu;" +
  "entrusttime 309 tu;bhmds 310 tu;asip-webadmin 311 tu;vslmp 312 tu;magenta-logic 313 tu;" +
  "opalis-robot 314 tu;dpsi 315 tu;decauth 316 tu;zannet 317 tu;pkix-timestamp 318 tu;ptp-event 319 tu;" +
  "ptp-general 320 tu;pip 321 tu;rtsps 322 tu;rpki-rtr 323 t;rpki-rtr-tls 324 t;texar 333 tu;" +
  "pdap 344 tu;pawserv 345 tu;zserv 346 tu;fatserv 347 tu;csi-sgwp 348 tu;mftp 349 tu;" +
  "matip-type-a 350 tu;matip-type-b 351 tu;bhoetty 351 tu;dtag-ste-sb 352 tu;bhoedap4 352 tu;" +
  "ndsauth 353 tu;bh611 354 tu;datex-asn 355 tu;cloanto-net-1 356 tu;bhevent 357 tu;shrinkwrap 358 tu;" +
  "nsrmp 359 tu;scoi2odialog 360 tu;semantix 361 tu;srssend 362 tu;rsvp_tunnel 363 tu;" +
  "aurora-cmgr 364 tu;dtk 365 tu;odmr 366 tu;mortgageware 367 tu;qbikgdp 368 tu;rpc2portmap 369 tu;" +
  "codaauth2 370 tu;clearcase 371 tu;ulistserv 372 tu ulistproc;legent-1 373 tu;legent-2 374 tu;" +
  "hassle 375 tu;nip 376 tu;tnETOS 377 tu;dsETOS 378 tu;is99c 379 tu;is99s 380 tu;hp-collector 381 tu;" +
  "hp-managed-node 382 tu;hp-alarm-mgr 383 tu;arns 384 tu;ibm-app 385 tu;asa 386 tu;aurp 387 tu;" +
  "unidata-ldm 388 tu;ldap 389 tu;uis 390 tu;synotics-relay 391 tu;synotics-broker 392 tu;meta5 393 tu;" +
  "embl-ndt 394 tu;netcp 395 tu;netware-ip 396 tu;mptn 397 tu;kryptolan 398 tu;iso-tsap-c2 399 tu;" +
  "osb-sd 400 tu;ups 401 tu;genie 402 tu;decap 403 tu;nced 404 tu;ncld 405 tu;imsp 406 tu;" +
  "timbuktu 407 tu;prm-sm 408 tu;prm-nm 409 tu;decladebug 410 tu;rmt 411 tu;synoptics-trap 412 tu;" +
  "smsp 413 tu;infoseek 414 tu;bnet 415 tu;silverplatter 416 tu;onmux 417 tu;hyper-g 418 tu;" +
  "ariel1 419 tu;smpte 420 tu;ariel2 421 tu;ariel3 422 tu;opc-job-start 423 tu;opc-job-track 424 tu;" +
  "icad-el 425 tu;smartsdp 426 tu;svrloc 427 tu;ocs_cmu 428 tu;ocs_amu 429 tu;utmpsd 430 tu;" +
  "utmpcd 431 tu;iasd 432 tu;nnsp 433 tu;mobileip-agent 434 tu;mobilip-mn 435 tu;dna-cml 436 tu;" +
  "comscm 437 tu;dsfgw 438 tu;dasp 439 tu;sgcp 440 tu;decvms-sysmgt 441 tu;cvc_hostd 442 tu;" +
  "https 443 tu;snpp 444 tu;microsoft-ds 445 tu;ddm-rdb 446 tu;ddm-dfm 447 tu;ddm-ssl 448 tu ddm-byte;" +
  "as-servermap 449 tu;tserver 450 tu;sfs-smp-net 451 tu;sfs-config 452 tu;creativeserver 453 tu;" +
  "contentserver 454 tu;creativepartnr 455 tu;macon-tcp 456 t;macon-udp 456 u;scohelp 457 tu;" +
  "appleqtc 458 tu;ampr-rcmd 459 tu;skronk 460 tu;datasurfsrv 461 tu;datasurfsrvsec 462 tu;" +
  "alpes 463 tu;kpasswd 464 tu kpasswd5;smtps 465 tu;urd 465 t;submissions 465 t;igmpv3lite 465 u;" +
  "digital-vrc 466 tu;mylex-mapd 467 tu;photuris 468 tu;rcp 469 tu;scx-proxy 470 tu;mondex 471 tu;" +
  "ljk-login 472 tu;hybrid-pop 473 tu;tn-tl-w1 474 t;tn-tl-w2 474 u;tcpnethaspsrv 475 tu;" +
  "tn-tl-fd1 476 tu;ss7ns 477 tu;spsc 478 tu;iafserver 479 tu;iafdbase 480 tu;ph 481 tu;bgs-nsi 482 tu;" +
  "ulpnet 483 tu;integra-sme 484 tu;powerburst 485 tu;avian 486 tu;saft 487 tu;gss-http 488 tu;" +
  "nest-protocol 489 tu;micom-pfs 490 tu;go-login 491 tu;ticf-1 492 tu;ticf-2 493 tu;pov-ray 494 tu;" +
  "intecourier 495 tu;pim-rp-disc 496 tu;retrospect 497 tu;siam 498 tu;iso-ill 499 tu;isakmp 500 tu;" +
  "stmf 501 tu;mbap 502 tu;intrinsa 503 tu;citadel 504 tu;mailbox-lm 505 tu;ohimsrv 506 tu;crs 507 tu;" +
  "xvttp 508 tu;snare 509 tu;fcp 510 tu;passgo 511 tu;exec 512 t;biff 512 u comsat;login 513 t;" +
  "who 513 u whod;shell 514 t cmd;syslog 514 u;printer 515 tu spooler;videotex 516 tu;talk 517 tu;" +
  "ntalk 518 tu;utime 519 tu unixtime;efs 520 t;router 520 u route routed;ripng 521 tu;ulp 522 tu;" +
  "ibm-db2 523 tu;ncp 524 tu;timed 525 tu timeserver;tempo 526 tu newdate;stx 527 tu;custix 528 tu;" +
  "irc-serv 529 tu;courier 530 tu rpc;conference 531 tu chat;netnews 532 tu readnews;netwall 533 tu;" +
  "windream 534 tu;iiop 535 tu;opalis-rdv 536 tu;nmsp 537 tu;gdomap 538 tu;apertus-ldp 539 tu;" +
  "uucp 540 tu uucpd;uucp-rlogin 541 tu;commerce 542 tu;klogin 543 tu;kshell 544 tu krcmd;" +
  "appleqtcsrvr 545 tu;dhcpv6-client 546 tu;dhcpv6-server 547 tu;afpovertcp 548 tu;idfp 549 tu;" +
  "new-rwho 550 tu new-who;cybercash 551 tu;devshr-nts 552 tu deviceshare;pirp 553 tu;rtsp 554 tu;" +
  "dsf 555 tu;remotefs 556 tu rfs rfs_server;openvms-sysipc 557 tu;sdnskmp 558 tu;teedtap 559 tu;" +
  "rmonitor 560 tu rmonitord;monitor 561 tu;chshell 562 tu chcmd;nntps 563 tu snntp;9pfs 564 tu;" +
  "whoami 565 tu;streettalk 566 tu;banyan-rpc 567 tu;ms-shuttle 568 tu;ms-rome 569 tu;meter 570 tu;" +
  "umeter 571 tu;sonar 572 tu;banyan-vip 573 tu;ftp-agent 574 tu;vemmi 575 tu;ipcd 576 tu;vnas 577 tu;" +
  "ipdd 578 tu;decbsrv 579 tu;sntp-heartbeat 580 tu;bdp 581 tu;scc-security 582 tu;philips-vc 583 tu;" +
  "keyserver 584 tu;password-chg 586 tu;submission 587 tu;cal 588 tu;eyelink 589 tu;tns-cml 590 tu;" +
  "http-alt 591 tu;eudora-set 592 tu;http-rpc-epmap 593 tu;tpip 594 tu;cab-protocol 595 tu;smsd 596 tu;" +
  "ptcnameservice 597 tu;sco-websrvrmg3 598 tu;acp 599 tu;ipcserver 600 tu;syslog-conn 601 tu;" +
  "xmlrpc-beep 602 tu;idxp 603 tu;tunnel 604 tu;soap-beep 605 tu;urm 606 tu;nqs 607 tu;sift-uft 608 tu;" +
  "npmp-trap 609 tu;npmp-local 610 tu;npmp-gui 611 tu;hmmp-ind 612 tu;hmmp-op 613 tu;sshell 614 tu;" +
  "sco-inetmgr 615 tu;sco-sysmgr 616 tu;sco-dtmgr 617 tu;dei-icda 618 tu;compaq-evm 619 tu;" +
  "sco-websrvrmgr 620 tu;escp-ip 621 tu;collaborator 622 tu;asf-rmcp 623 tu;cryptoadmin 624 tu;" +
  "dec-dlm 625 tu dec_dlm;asia 626 tu;passgo-tivoli 627 tu;qmqp 628 tu;3com-amp3 629 tu;rda 630 tu;" +
  "ipp 631 tu ipps;bmpp 632 tu;servstat 633 tu;ginad 634 tu;rlzdbase 635 tu;ldaps 636 tu sldap;" +
  "lanserver 637 tu;mcns-sec 638 tu;msdp 639 tu;entrust-sps 640 tu;repcmd 641 tu;esro-emsdp 642 tu;" +
  "sanity 643 tu;dwr 644 tu;pssc 645 tu;ldp 646 tu;dhcp-failover 647 tu;rrp 648 tu;cadview-3d 649 tu;" +
  "obex 650 tu;ieee-mms 651 tu;hello-port 652 tu;repscmd 653 tu;aodv 654 tu;tinc 655 tu;spmp 656 tu;" +
  "rmc 657 tu;tenfold 658 tu;mac-srvr-admin 660 tu;hap 661 tu;pftp 662 tu;purenoise 663 tu;" +
  "asf-secure-rmcp 664 tu;sun-dr 665 tu;mdqs 666 tu;doom 666 tu;disclose 667 tu;mecomm 668 tu;" +
  "meregister 669 tu;vacdsm-sws 670 tu;vacdsm-app 671 tu;vpps-qua 672 tu;cimplex 673 tu;acap 674 tu;" +
  "dctp 675 tu;vpps-via 676 tu;vpp 677 tu;ggf-ncp 678 tu;mrm 679 tu;entrust-aaas 680 tu;" +
  "entrust-aams 681 tu;xfr 682 tu;corba-iiop 683 tu;corba-iiop-ssl 684 tu;mdc-portmapper 685 tu;" +
  "hcp-wismar 686 tu;asipregistry 687 tu;realm-rusd 688 tu;nmap 689 tu;vatp 690 tu;" +
  "msexch-routing 691 tu;hyperwave-isp 692 tu;connendp 693 tu;ha-cluster 694 tu;ieee-mms-ssl 695 tu;" +
  "rushd 696 tu;uuidgen 697 tu;olsr 698 tu;accessnetwork 699 tu;epp 700 tu;lmp 701 tu;iris-beep 702 tu;" +
  "elcsd 704 tu;agentx 705 tu;silc 706 tu;borland-dsj 707 tu;entrustmanager 709 tu;entrust-ash 710 tu;" +
  "cisco-tdp 711 tu;tbrpf 712 tu;iris-xpc 713 tu;iris-xpcs 714 tu;iris-lwz 715 tu;pana 716 u;" +
  "netviewdm1 729 tu;netviewdm2 730 tu;netviewdm3 731 tu;netgw 741 tu;netrcs 742 tu;flexlm 744 tu;" +
  "fujitsu-dev 747 tu;ris-cm 748 tu;kerberos-adm 749 tu;rfile 750 t;loadav 750 u;kerberos-iv 750 u kdc;" +
  "pump 751 tu;qrh 752 tu;rrh 753 tu;krb_prop 754 t krb5_prop;tell 754 tu;nlogin 758 tu;con 759 tu;" +
  "ns 760 tu;rxe 761 tu;quotad 762 tu;cycleserv 763 tu;omserv 764 tu;webster 765 tu;phonebook 767 tu;" +
  "vid 769 tu;cadlock 770 tu;rtip 771 tu;cycleserv2 772 tu;submit 773 t;notify 773 u;rpasswd 774 t;" +
  "acmaint-dbd 774 u acmaint_dbd;entomb 775 t;acmaint-transd 775 u acmaint_transd;wpages 776 tu;" +
  "multiling-http 777 tu;wpgs 780 tu;mdbs-daemon 800 tu mdbs_daemon;device 801 tu;mbap-s 802 tu;" +
  "fcp-udp 810 tu;itm-mcell-s 828 tu;pkix-3-ca-ra 829 tu;netconf-ssh 830 tu;netconf-beep 831 tu;" +
  "netconfsoaphttp 832 tu;netconfsoapbeep 833 tu;dhcp-failover2 847 tu;gdoi 848 tu;domain-s 853 tu;" +
  "iscsi 860 tu;owamp-control 861 tu;twamp-control 862 tu;supfilesrv 871 t;rsync 873 tu;" +
  "iclcnet-locate 886 tu;iclcnet_svinfo 887 tu;accessbuilder 888 tu;omginitialrefs 900 tu;swat 901 t;" +
  "smpnameres 901 tu;ideafarm-chat 902 tu;ideafarm-catch 903 tu;kink 910 tu;xact-backup 911 tu;" +
  "apex-mesh 912 tu;apex-edge 913 tu;rndc 953 t;ftps-data 989 tu;ftps 990 tu;nas 991 tu;telnets 992 tu;" +
  "imaps 993 tu;ircs 994 tu;pop3s 995 tu spop3;vsinet 996 tu;maitrd 997 tu;busboy 998 t;puparp 998 u;" +
  "garcon 999 t;applix 999 u;puprouter 999 tu;cadlock2 1000 tu;webpush 1001 t;surf 1010 tu;" +
  "exp1 1021 tu;exp2 1022 tu;blackjack 1025 tu;cap 1026 tu;6a44 1027 u;boinc-client 1043 tu;" +
  "nim 1058 tu;nimreg 1059 tu;instl-boots 1067 tu instl_boots;instl-bootc 1068 tu instl_bootc;" +
  "socks 1080 tu;webobjects 1085 tu;ff-annunc 1089 tu;ff-fms 1090 tu;ff-sm 1091 tu;cnrprotocol 1096 tu;" +
  "rmiactivation 1098 tu;rmiregistry 1099 tu;mctp 1100 tu;kpop 1109 tu;nfsd-status 1110 t;" +
  "nfsd-keepalive 1110 u;supfiledbg 1127 t;c1222-acse 1153 tu;nfa 1155 tu;cisco-ipsla 1167 tu;" +
  "tripwire 1169 tu;skkserv 1178 t;mysql-cluster 1186 tu;openvpn 1194 tu;rsf-1 1195 tu;" +
  "qt-serveradmin 1220 tu;healthd 1281 tu;pkt-krb-ipsec 1293 tu;h323hostcallsc 1300 tu;" +
  "jtag-server 1309 tu;hkrb5gatekeeper 1318 t;krb5gatekeeper 1318 u;netdb-export 1329 tu;" +
  "digital-notary 1335 tu;icap 1344 tu;ms-sql-s 1433 tu;ms-sql-m 1434 tu;ingreslock 1524 tu;" +
  "orasrv 1525 tu;prospero-np 1525 tu;pdap-np 1526 tu;tlisrv 1527 tu;pciarray 1552 tu;issd 1600 tu;" +
  "nkd 1650 tu;shiva_confsrvr 1651 tu;xnmp 1652 tu;l2f 1701 tu;l2tp 1701 tu;pptp 1723 t;radius 1812 u;" +
  "radacct 1813 u;ssdp 1900 tu;licensedaemon 1986 tu;tr-rsrb-p1 1987 tu;tr-rsrb-p2 1988 tu;" +
  "tr-rsrb-p3 1989 tu;stun-p1 1990 tu;stun-p2 1991 tu;stun-p3 1992 tu;ipsendmsg 1992 tu;" +
  "snmp-tcp-port 1993 tu;stun-port 1994 tu;perf-port 1995 tu;tr-rsrb-port 1996 tu;gdp-port 1997 tu;" +
  "x25-svc-port 1998 tu;tcp-id-port 1999 tu;cfingerd 2003 t;mailbox 2004 t;oracle 2005 u;" +
  "raid-cc 2006 u;raid-am 2007 u;raid-cc 2011 t;lam 2040 tu;interbase 2041 tu;nfsd 2049 tu nfs;" +
  "dlsrpn 2065 tu;dlswpn 2067 tu;gnunet 2086 tu;descent3 2092 tu;h2250-annex-g 2099 tu;" +
  "rtcm-sc104 2101 tu;zephyr-srv 2102 tu;zephyr-clt 2103 u;zephyr-hm 2104 u;minipay 2105 tu;" +
  "mzap 2106 tu;eklogin 2105 tu;ekshell 2106 tu;gdbremote 2159 tu;apc-2160 2160 tu;apc-2161 2161 tu;" +
  "msfw-storage 2171 tu;msfw-s-storage 2172 tu;msfw-replica 2173 tu;msfw-array 2174 tu;airsync 2175 tu;" +
  "rapi 2176 tu;vmrdp 2179 tu;jps 2205 tu;hpocbus 2206 tu;hpssd 2207 tu;hpiod 2208 tu;rimf-ps 2209 tu;" +
  "mysql-im 2273 tu;dbm 2345 tu;rsmtp 2390 tu;cvspserver 2401 tu;venus 2430 tu;venus-se 2431 tu;" +
  "codasrv 2432 tu;codasrv-se 2433 tu;sybasedbsynch 2439 tu;citrixima 2512 tu;citrixadmin 2513 tu;" +
  "hpstgmgr 2600 tu;discp-client 2601 tu;discp-server 2602 tu;servicemeter 2603 tu;nsc-ccs 2604 tu;" +
  "nsc-posa 2605 tu;netmon 2606 tu;connection 2607 tu;wag-service 2608 tu;dict 2628 tu;smpp 2775 tu;" +
  "www-dev 2784 tu;citrix-rtmp 2897 tu;m2ua 2904 tu;m3ua 2905 t;megaco-h248 2944 tu;" +
  "h248-binary 2945 tu;netplan 2983 tu;cifs 3020 tu;eppc 3031 tu;gds_db 3050 tu;grubd 3136 tu;" +
  "iscsi-target 3260 tu;mysql 3306 tu;ms-wbt-server 3389 t rdp;ms-wbt-server 3389 u;efi-lm 3392 tu;" +
  "prsvp 3455 t;prsvp 3455 u rsvp-encap;nppmp 3476 tu;nut 3493 tu;lsp-ping 3503 tu;802-11-iapp 3517 tu;" +
  "jboss-iiop 3528 tu;jboss-iiop-ssl 3529 tu;m2pa 3565 t;tsp 3653 tu;daap 3689 tu;svn 3690 tu;" +
  "bfd-control 3784 tu;bfd-echo 3785 tu;asap-tcp 3863 t;asap-udp 3863 u;asap-tcp-tls 3864 t;" +
  "diameter 3868 t;mapper-nodemgr 3984 tu;mapper-mapethd 3985 tu;mapper-ws_ethd 3986 tu;dnx 3998 tu;" +
  "lockd 4045 tu;nuts_dem 4132 tu;nuts_bootp 4133 tu;sieve 4190 tu;nss 4159 tu;rwhois 4321 tu;" +
  "epmd 4369 tu;krb524 4444 tu;nv-video 4444 tu;ipsec-nat-t 4500 tu;hylafax 4559 tu;ipfix 4739 tu;" +
  "ipfixs 4740 tu;vxlan 4789 u;derby-repli 4851 tu;rfe 5002 tu;mmcc 5050 tu;sip 5060 tu;" +
  "sip-tls 5061 tu;xmpp-client 5222 tu;xmpp-server 5269 tu;presence 5298 tu;cfengine 5308 tu;" +
  "mdns 5353 tu;mdnsresponder 5354 tu;postgresql 5432 tu;vami 5480 tu;personal-agent 5555 t;" +
  "rplay 5555 u;amqps 5671 tu;amqp 5672 tu;v5ua 5675 tu;canna 5680 t;auriga-router 5680 u;" +
  "vnc-server 5900 tu;couchdb 5984 tu;cvsup 5999 t;x11 6000 tu;x11-ssh 6010 tu;sge_qmaster 6444 tu;" +
  "sge_execd 6445 tu;sane-port 6566 tu;kftp-data 6620 tu;kftp 6621 tu;ktelnet 6623 tu;afesc-mc 6628 u;" +
  "ircu 6665 tu;ircd 6667 t;ircs-u 6697 t;afs3-fileserver 7000 tu;afs3-callback 7001 tu;" +
  "afs3-prserver 7002 tu;afs3-vlserver 7003 tu;afs3-kaserver 7004 tu;afs3-volser 7005 tu;" +
  "afs3-errors 7006 tu;afs3-bos 7007 tu;afs3-update 7008 tu;afs3-rmtsys 7009 tu;afs3-resserver 7010 tu;" +
  "ups-onlinet 7010 tu;afs3-remio 7011 tu;font-service 7100 tu;simco 7626 t;ftp-proxy 8021 t;" +
  "intu-ec-client 8021 u;http-alt 8080 tu;privoxy 8118 tu;puppet 8140 t;pim 8471 t;asterix 8600 tu;" +
  "ub-dns-control 8953 t;aurora 9084 tu;jetdirect 9100 t;pdl-datastream 9100 tu;bacula-dir 9101 tu;" +
  "bacula-fd 9102 tu;bacula-sd 9103 tu;prom-sysctl 9124 t;git 9418 tu;prom-ctl 9572 t;" +
  "odbcpathway 9628 tu;davsrc 9800 tu;davsrcs 9802 tu;sd 9876 tu;iua 9900 tu;enrp 9901 u;" +
  "zabbix-agent 10050 tu;zabbix-trapper 10051 tu;amanda 10080 tu;amandaidx 10082 t;amidxtape 10083 t;" +
  "bpcd 13782 tu;sua 14001 t;amt-soap-http 16992 tu;amt-soap-https 16993 tu;amt-redir-tcp 16994 tu;" +
  "amt-redir-tls 16995 tu;isode-dua 17007 tu;biimenu 18000 tu;nfsrdma 20049 tu;wnn6 22273 t wnn4;" +
  "wnn6_Cn 22289 t wnn4_Cn;wnn6_Kr 22305 t wnn4_Kr;wnn6_Tw 22321 t wnn4_Tw;wnn6-ds 26208 tu;" +
  "dbbrowse 47557 tu;";

/** `name number [alias ...]` in /etc/protocols order. */
const PROTOCOLS =
  "ip 0 IP;icmp 1 ICMP;igmp 2 IGMP;ggp 3 GGP;ipencap 4 IP-ENCAP;st2 5 ST2;tcp 6 TCP;cbt 7 CBT;egp 8 EGP;" +
  "igp 9 IGP;bbn-rcc 10 BBN-RCC-MON;nvp 11 NVP-II;pup 12 PUP;argus 13 ARGUS;emcon 14 EMCON;xnet 15 XNET;" +
  "chaos 16 CHAOS;udp 17 UDP;mux 18 MUX;dcn 19 DCN-MEAS;hmp 20 HMP;prm 21 PRM;xns-idp 22 XNS-IDP;" +
  "trunk-1 23 TRUNK-1;trunk-2 24 TRUNK-2;leaf-1 25 LEAF-1;leaf-2 26 LEAF-2;rdp 27 RDP;irtp 28 IRTP;" +
  "iso-tp4 29 ISO-TP4;netblt 30 NETBLT;mfe-nsp 31 MFE-NSP;merit-inp 32 MERIT-INP;dccp 33 DCCP;3pc 34 3PC;" +
  "idpr 35 IDPR;xtp 36 XTP;ddp 37 DDP;idpr-cmtp 38 IDPR-CMTP;tp++ 39 TP++;il 40 IL;ipv6 41 IPV6;" +
  "sdrp 42 SDRP;ipv6-route 43 IPV6-ROUTE;ipv6-frag 44 IPV6-FRAG;idrp 45 IDRP;rsvp 46 RSVP;gre 47 GRE;" +
  "dsr 48 DSR;bna 49 BNA;esp 50 ESP;ah 51 AH;i-nlsp 52 I-NLSP;swipe 53 SWIPE;narp 54 NARP;" +
  "mobile 55 MOBILE;tlsp 56 TLSP;skip 57 SKIP;ipv6-icmp 58 IPV6-ICMP icmp6;ipv6-nonxt 59 IPV6-NONXT;" +
  "ipv6-opts 60 IPV6-OPTS;cftp 62 CFTP;sat-expak 64 SAT-EXPAK;kryptolan 65 KRYPTOLAN;rvd 66 RVD;" +
  "ippc 67 IPPC;sat-mon 69 SAT-MON;visa 70 VISA;ipcv 71 IPCV;cpnx 72 CPNX;cphb 73 CPHB;wsn 74 WSN;" +
  "pvp 75 PVP;br-sat-mon 76 BR-SAT-MON;sun-nd 77 SUN-ND;wb-mon 78 WB-MON;wb-expak 79 WB-EXPAK;" +
  "iso-ip 80 ISO-IP;vmtp 81 VMTP;secure-vmtp 82 SECURE-VMTP;vines 83 VINES;ttp 84 TTP;" +
  "nsfnet-igp 85 NSFNET-IGP;dgp 86 DGP;tcf 87 TCF;eigrp 88 EIGRP;ospf 89 OSPFIGP;" +
  "sprite-rpc 90 Sprite-RPC;larp 91 LARP;mtp 92 MTP;ax.25 93 AX.25;ipip 94 IPIP;micp 95 MICP;" +
  "scc-sp 96 SCC-SP;etherip 97 ETHERIP;encap 98 ENCAP;gmtp 100 GMTP;ifmp 101 IFMP;pnni 102 PNNI;" +
  "pim 103 PIM;aris 104 ARIS;scps 105 SCPS;qnx 106 QNX;a/n 107 A/N;ipcomp 108 IPComp;snp 109 SNP;" +
  "compaq-peer 110 Compaq-Peer;ipx-in-ip 111 IPX-in-IP;carp 112 CARP vrrp;pgm 113 PGM;l2tp 115 L2TP;" +
  "ddx 116 DDX;iatp 117 IATP;stp 118 STP;srp 119 SRP;uti 120 UTI;smp 121 SMP;sm 122 SM;ptp 123 PTP;" +
  "isis 124 ISIS;fire 125 FIRE;crtp 126 CRTP;crudp 127 CRUDP;sscopmce 128 SSCOPMCE;iplt 129 IPLT;" +
  "sps 130 SPS;pipe 131 PIPE;sctp 132 SCTP;fc 133 FC;rsvp-e2e-ignore 134 RSVP-E2E-IGNORE;" +
  "mobility-header 135 Mobility-Header;udplite 136 UDPLite;mpls-in-ip 137 MPLS-IN-IP;manet 138 MANET;" +
  "hip 139 HIP;shim6 140 SHIM6;wesp 141 WESP;rohc 142 ROHC;pfsync 240 PFSYNC;divert 258 DIVERT";

interface ServiceEntry {
  port: number;
  tcp: boolean;
  udp: boolean;
}

/**
 * The indexes are built on first lookup, not when the module loads: every
 * qjail command loads this module, few look a name up, and building them is
 * a visible part of start-up.
 */
let indexes:
  | {
      /** name or alias → entries in file order. */
      services: Map<string, ServiceEntry[]>;
      protocolByName: Map<string, number>;
      protocolByNumber: Map<number, string>;
    }
  | undefined;

function tables(): NonNullable<typeof indexes> {
  if (indexes) return indexes;
  const services = new Map<string, ServiceEntry[]>();
  for (const row of SERVICES.split(";").filter((x) => x !== "")) {
    const [name, port, protos, ...aliases] = row.split(" ");
    const entry: ServiceEntry = {
      port: Number(port),
      tcp: protos!.includes("t"),
      udp: protos!.includes("u"),
    };
    for (const n of [name!, ...aliases]) {
      const list = services.get(n);
      if (list) list.push(entry);
      else services.set(n, [entry]);
    }
  }
  const protocolByName = new Map<string, number>();
  const protocolByNumber = new Map<number, string>();
  for (const row of PROTOCOLS.split(";")) {
    const [name, num, ...aliases] = row.split(" ");
    const n = Number(num);
    if (!protocolByNumber.has(n)) protocolByNumber.set(n, name!);
    for (const a of [name!, ...aliases]) if (!protocolByName.has(a)) protocolByName.set(a, n);
  }
  return (indexes = { services, protocolByName, protocolByNumber });
}

/**
 * getservbyname(3) on FreeBSD's /etc/services: the port of the first entry
 * named `name` (or with that alias) for `proto`; with `proto` null, the first
 * entry of any protocol. Undefined when there is none.
 */
export function serviceByName(name: string, proto: "tcp" | "udp" | null): number | undefined {
  const list = tables().services.get(name);
  if (!list) return undefined;
  for (const e of list) if (proto === null || (proto === "tcp" ? e.tcp : e.udp)) return e.port;
  return undefined;
}

/**
 * ipf's getproto(): a string of digits is that number, `ip` (any case) is 0,
 * else getprotobyname(); -1 when unknown.
 */
export function getproto(name: string): number {
  if (/^\d+$/.test(name)) return Number.parseInt(name, 10);
  if (name.toLowerCase() === "ip") return 0;
  return tables().protocolByName.get(name) ?? -1;
}
